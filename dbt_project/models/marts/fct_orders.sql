-- One row per order in its current state, with the flags the KPIs count.
select
    o.order_id,
    o.customer_id,
    o.checkout_id,
    o.created_at,
    o.updated_at,
    o.channel,
    o.order_type,
    o.status,
    o.plan,
    o.deployment,
    o.seats,
    o.amount,
    o.currency,
    o.is_placed,
    o.is_self_service,
    case when fo.first_order_id is not null then true else false end as is_first_order,
    o.manual_intervention,
    o.intervention_reason
from {{ ref('int_orders_current') }} as o
left join {{ ref('int_customers_first_ordered') }} as fo
    on fo.first_order_id = o.order_id
    and fo.customer_id = o.customer_id
