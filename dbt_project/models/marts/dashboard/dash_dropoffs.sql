-- Checkouts that stopped before an order was placed, per cohort day, last step reached and segment,
-- with how many of them had a payment_failed event (at or after the checkout's start:
-- int_payment_failures_counted). For the dashboard's drop-off page: nothing there scans raw events.
-- A table, rebuilt every run. Measured on 10M events plus one day: the (day, plan, deployment, device)
-- groups holding a changed checkout (late status changes touch ~240 of 366 cohort days) hold 19% of
-- the checkouts, and gathering them and their payment_failed events scans fct_checkouts and the
-- events all the same: the incremental SELECT took 1.2 s against 1.6 s for the whole table (load
-- ~4), before its deletes and the watermark bookkeeping.
{{ config(materialized='table') }}

with failures as (
    select
        checkout_id,
        sum(failures) as payment_failures
    from {{ ref('int_payment_failures_counted') }}
    group by checkout_id
),

stopped as (
    select
        cast(c.started_at as date) as cohort_date,
        c.reached_step as stopped_at_step,
        coalesce(c.plan, 'unknown') as plan,
        coalesce(c.deployment, 'unknown') as deployment,
        coalesce(c.device, 'unknown') as device,
        c.is_new_customer,
        coalesce(f.payment_failures, 0) as payment_failures
    from {{ ref('fct_checkouts') }} as c
    left join failures as f
        on c.checkout_id = f.checkout_id
    where not c.converted
)

select
    cohort_date,
    stopped_at_step,
    plan,
    deployment,
    device,
    is_new_customer,
    cast(count(*) as bigint) as checkouts,
    cast(sum(case when payment_failures > 0 then 1 else 0 end) as bigint) as checkouts_with_payment_failure,
    cast(sum(payment_failures) as bigint) as payment_failures
from stopped
group by cohort_date, stopped_at_step, plan, deployment, device, is_new_customer
