-- One row per customer with at least one placed order: the first order, i.e. the earliest placed
-- order by created_at, ties broken by the smallest order_id in byte (C) order, whatever its channel.
-- Built on the orders' current state, so a status change that un-places an order moves it.
with ranked as (
    select
        customer_id,
        order_id,
        created_at,
        channel,
        is_self_service,
        manual_intervention,
        row_number() over (
            partition by customer_id
            order by created_at, {{ byte_order('order_id') }}
        ) as placed_rank
    from {{ ref('int_orders_current') }}
    where is_placed
)

select
    customer_id,
    order_id            as first_order_id,
    created_at          as first_order_created_at,
    channel             as first_order_channel,
    is_self_service     as first_order_is_self_service,
    manual_intervention as first_order_manual_intervention
from ranked
where placed_rank = 1
