-- Funnel counts per cohort day and segment, for the dashboard's funnel page (filters by date range,
-- plan, deployment, country, device, new vs returning). Sums of these rows over any filter equal
-- marts.funnel_steps for the same cohorts. Portable SQL: runs on DuckDB, PostgreSQL and Spark.
-- Maintained by difference (DuckDB, PostgreSQL; Spark: a table rebuilt whole): macros/checkout_counts.sql.
{%- set groups = ['cohort_date', 'plan', 'deployment', 'country', 'device', 'is_new_customer'] %}
{{ config(
    materialized=incremental_or_table(),
    unique_key=groups,
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="{{ delete_placeholders('checkouts_started = 0') }}",
) }}

{{ checkout_counts_by_difference(groups, measures=[
    ('checkouts_started', '1'),
    ('reached_subscription_details', 'case when reached_step >= 2 then 1 else 0 end'),
    ('reached_billing_address', 'case when reached_step >= 3 then 1 else 0 end'),
    ('reached_payment_method', 'case when reached_step >= 4 then 1 else 0 end'),
    ('reached_order_submitted', 'case when reached_step >= 5 then 1 else 0 end'),
    ('checkouts_converted', 'case when reached_step >= 6 then 1 else 0 end'),
]) }}
