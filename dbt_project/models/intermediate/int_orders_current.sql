-- One row per order_id: its current state, the version with the latest updated_at.
-- (order_id, updated_at) is unique in raw.orders, so the latest version is unambiguous.
with versions as (
    select
        order_id,
        customer_id,
        checkout_id,
        created_at,
        updated_at,
        channel,
        order_type,
        status,
        plan,
        deployment,
        seats,
        amount,
        currency,
        manual_intervention,
        intervention_reason,
        row_number() over (partition by order_id order by updated_at desc) as version_rank,
        count(*) over (partition by order_id) as version_count
    from {{ ref('stg_orders') }}
)

select
    order_id,
    customer_id,
    checkout_id,
    created_at,
    updated_at,
    channel,
    order_type,
    status,
    plan,
    deployment,
    seats,
    amount,
    currency,
    manual_intervention,
    intervention_reason,
    version_count,
    case when status in ('completed', 'refunded') then true else false end as is_placed,
    case when status in ('completed', 'refunded') and channel = 'web_direct' then true else false end
        as is_self_service
from versions
where version_rank = 1
