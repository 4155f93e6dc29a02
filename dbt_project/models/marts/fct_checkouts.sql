-- One row per checkout in the funnel (it has a checkout_started event).
--
-- Incremental (DuckDB, PostgreSQL; macros/incremental.sql): a projection of
-- int_checkouts_funnelled, whose incremental build rewrites (and stamps with a newer
-- _inputs_loaded_at) every checkout it recomputes. A build copies the funnel rows stamped after
-- this table's watermark (a zone-map-pruned read of the rows the funnel model appended) and
-- replaces their rows (delete+insert on checkout_id); checkouts never leave the funnel. Rebuilding
-- the table instead cost 2.4-4 s at 10M events (copying 2.8M rows). Spark: a table.
--
-- Extra columns (the spec welcomes them): the time of every step within the conversion window the
-- warehouse was built with (a shorter window's funnel follows from them: docs/dashboard.md,
-- "Conversion window"), and the checkout's payment failures (int_payment_failures_counted: at or
-- after t1) for the drop-off list. A new payment_failed event is a new event of its checkout, so
-- the funnel model recomputes that checkout and this build copies it again.
{{ config(
    materialized=incremental_or_table(),
    unique_key='checkout_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with checkouts as (
    select *
    from {{ ref('int_checkouts_funnelled') }}
    {%- if is_incremental() %}
    where _inputs_loaded_at > {{ watermark(this) }}
    {%- endif %}
),

-- Per checkout: every payment failure, and the error code that failed most (a tie: the smallest
-- code by bytes).
failures_ranked as (
    select
        checkout_id,
        error_code,
        sum(failures) over (partition by checkout_id) as payment_failures,
        row_number() over (
            partition by checkout_id
            order by failures desc, {{ byte_order('error_code') }}
        ) as error_rank
    from {{ ref('int_payment_failures_counted') }}
    {%- if is_incremental() %}
    where checkout_id in (select checkout_id from checkouts)
    {%- endif %}
)

select
    c.checkout_id,
    c.customer_id,
    c.started_at,
    c.is_new_customer,
    c.plan,
    c.deployment,
    c.country,
    c.device,
    c.seats,
    c.reached_step,
    c.converted,
    c.order_id,
    c.hours_to_convert,
    c.order_placed_at as converted_at,
    c.subscription_details_completed_at,
    c.billing_address_completed_at,
    c.payment_method_completed_at,
    c.order_submitted_at,
    cast(coalesce(f.payment_failures, 0) as {{ dbt.type_bigint() }}) as payment_failures,
    f.error_code as payment_error_code,
    c._inputs_loaded_at
from checkouts as c
left join failures_ranked as f
    on f.checkout_id = c.checkout_id
    and f.error_rank = 1
