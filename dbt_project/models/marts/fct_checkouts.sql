-- One row per checkout in the funnel (it has a checkout_started event).
select
    checkout_id,
    customer_id,
    started_at,
    is_new_customer,
    plan,
    deployment,
    country,
    device,
    seats,
    reached_step,
    converted,
    order_id,
    hours_to_convert,
    order_placed_at as converted_at
from {{ ref('int_checkouts_funnelled') }}
