-- Checkouts that stopped before an order was placed, per cohort day, last step reached and segment,
-- with how many of them had a payment_failed event (at or after the checkout's start: fct_checkouts'
-- payment_failures, from int_payment_failures_counted). For the dashboard's drop-off page: nothing
-- there scans raw events. Portable SQL: runs on DuckDB, PostgreSQL and Spark.
-- Counted by the macro of dash_funnel_daily (macros/checkout_counts.sql), but a table rebuilt every
-- run: maintained by difference, its build read the previous version of every rewritten checkout
-- (a probe of every dash_checkout_steps key, ~0.2 s at 30M events) to save a scan of fct_checkouts'
-- unconverted rows; A/B on one more day: no faster at 30M events, 0.2-0.8 s slower at 10M.
{{ config(materialized='table') }}

{{ checkout_counts_by_difference(
    groups=['cohort_date', 'stopped_at_step', 'plan', 'deployment', 'device', 'is_new_customer'],
    measures=[
        ('checkouts', '1'),
        ('checkouts_with_payment_failure', 'case when payment_failures > 0 then 1 else 0 end'),
        ('payment_failures', 'payment_failures'),
    ],
    checkouts_where='reached_step < ' ~ funnel_step_names() | length,
    group_sources={'stopped_at_step': 'reached_step'},
) }}
