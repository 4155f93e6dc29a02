{#-
  payment_failed events per checkout in the funnel and error code: the one home of "which payment
  failures explain a checkout's drop-off" (kpi-definitions.md: payment_failed is no step, it
  explains drop-offs). An event counts when it belongs to a checkout with a start and happened at or
  after the checkout's start (t1); a missing error_code is 'unknown'. fct_checkouts (a checkout's
  failures and main error code, which dash_dropoffs sums) and dash_payment_failures aggregate this
  table instead of each scanning the events again.
-#}
{{ config(materialized='table') }}

select
    e.checkout_id,
    {{ value_or_unknown('e.error_code') }} as error_code,
    cast(count(*) as bigint) as failures
from {{ ref('stg_checkout_events') }} as e
inner join {{ ref('int_checkouts_funnelled') }} as c
    on e.checkout_id = c.checkout_id
where e.event_name = 'payment_failed'
  and e.event_time >= c.started_at
group by e.checkout_id, {{ value_or_unknown('e.error_code') }}
