-- Checkouts that stopped before an order was placed, per cohort day, last step reached and segment,
-- with how many of them had a payment_failed event (at or after the checkout's start: fct_checkouts'
-- payment_failures, from int_payment_failures_counted). For the dashboard's drop-off page: nothing
-- there scans raw events. Portable SQL: runs on DuckDB, PostgreSQL and Spark.
-- Maintained by difference (DuckDB, PostgreSQL; Spark: a table rebuilt whole): macros/checkout_counts.sql.
-- A checkout that converts leaves its group (its previous version counts -1), one that stops
-- converting joins one.
{%- set groups = ['cohort_date', 'stopped_at_step', 'plan', 'deployment', 'device', 'is_new_customer'] %}
{{ config(
    materialized=incremental_or_table(),
    unique_key=groups,
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="{{ delete_placeholders('checkouts = 0') }}",
) }}

{{ checkout_counts_by_difference(groups, measures=[
    ('checkouts', '1'),
    ('checkouts_with_payment_failure', 'case when payment_failures > 0 then 1 else 0 end'),
    ('payment_failures', 'payment_failures'),
], checkouts_where='reached_step < 6', group_sources={'stopped_at_step': 'reached_step'}) }}
