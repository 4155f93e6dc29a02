-- Self-service orders and those that needed manual intervention, per created_at day, plan,
-- deployment, first order or not, and intervention reason (NULL for orders without intervention).
-- Sums over any slice give the spec's manual_intervention_rate (all self-service orders) and
-- first_order_manual_intervention_rate (is_first_order = true).
-- A table, rebuilt every run: it reads only the self-service orders of fct_orders (~0.1-0.2 s at
-- 10M events), less than an incremental build's bookkeeping would cost.
{{ config(materialized='table') }}

select
    cast(created_at as date) as created_date,
    {{ value_or_unknown('plan') }} as plan,
    {{ value_or_unknown('deployment') }} as deployment,
    is_first_order,
    case
        when manual_intervention then coalesce(intervention_reason, 'unspecified')
    end as intervention_reason,
    cast(count(*) as bigint) as self_service_orders,
    cast(sum(case when manual_intervention then 1 else 0 end) as bigint) as intervention_orders
from {{ ref('fct_orders') }}
where is_self_service
group by
    cast(created_at as date),
    {{ value_or_unknown('plan') }},
    {{ value_or_unknown('deployment') }},
    is_first_order,
    case
        when manual_intervention then coalesce(intervention_reason, 'unspecified')
    end
