-- Funnel counts per cohort day and segment, for the dashboard's funnel page (filters by date range,
-- plan, deployment, country, device, new vs returning). Sums of these rows over any filter equal
-- marts.funnel_steps for the same cohorts. Portable SQL: runs on DuckDB, PostgreSQL and Spark.
--
-- Maintained by difference (DuckDB, PostgreSQL; Spark: a table rebuilt whole). Late order changes
-- touch checkouts in most cohort days every day, so recomputing the touched groups would read most of
-- fct_checkouts; the counts are additive instead. A build reads the checkouts fct_checkouts rewrote
-- (their new version counts +1) and their previous version, which dash_checkout_steps still holds
-- (it counts -1): dash_checkout_steps copies fct_checkouts' rewritten rows only after this model is
-- built (its `depends_on`), and its watermark is the point up to which both have seen fct_checkouts.
-- The affected groups are replaced (delete+insert on the group) by their old counts plus the
-- difference; a group left without checkouts is written with 0 (so that its old row is deleted)
-- and removed by the post-hook. A build that fails after this model and
-- before dash_checkout_steps is followed by a full refresh (pipelines/assets/dbt.py
-- full_refresh_reason: the facts carry rows newer than the last published build).
-- tests/test_incremental_marts.py compares two incremental runs with a fresh build, on DuckDB and on
-- PostgreSQL.
{%- set groups = ['cohort_date', 'plan', 'deployment', 'country', 'device', 'is_new_customer'] %}
{{ config(
    materialized=incremental_or_table(),
    unique_key=groups,
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="{{ delete_placeholders('checkouts_started = 0') }}",
) }}

{%- set steps = api.Relation.create(database=this.database, schema=this.schema, identifier='dash_checkout_steps') %}
{%- set step_counts = [
    ('reached_subscription_details', 2), ('reached_billing_address', 3), ('reached_payment_method', 4),
    ('reached_order_submitted', 5), ('checkouts_converted', 6)] %}

with checkouts as (
    select
        cast(started_at as date) as cohort_date,
        {{ value_or_unknown('plan') }} as plan,
        {{ value_or_unknown('deployment') }} as deployment,
        {{ value_or_unknown('country') }} as country,
        {{ value_or_unknown('device') }} as device,
        is_new_customer,
        reached_step,
        1 as sign
    from {{ ref('fct_checkouts') }}
    {%- if is_incremental() %}
    where _inputs_loaded_at > {{ watermark(steps) }}

    union all

    -- The previous version of each rewritten checkout (already coded as above).
    select {{ groups | join(', ') }}, reached_step, -1 as sign
    from {{ steps }}
    where checkout_id in (
        select checkout_id from {{ ref('fct_checkouts') }} where _inputs_loaded_at > {{ watermark(steps) }}
    )
    {%- endif %}
),

counted as (
    select
        {{ groups | join(', ') }},
        cast(sum(sign) as bigint) as checkouts_started
        {%- for column, step in step_counts %},
        cast(sum(case when reached_step >= {{ step }} then sign else 0 end) as bigint) as {{ column }}
        {%- endfor %}
    from checkouts
    group by {{ groups | join(', ') }}
)

{%- if is_incremental() %}

select
    {%- for column in groups %}
    d.{{ column }},
    {%- endfor %}
    coalesce(t.checkouts_started, 0) + d.checkouts_started as checkouts_started
    {%- for column, _ in step_counts %},
    coalesce(t.{{ column }}, 0) + d.{{ column }} as {{ column }}
    {%- endfor %}
from counted as d
left join {{ this }} as t
    on {% for column in groups %}t.{{ column }} = d.{{ column }}{{ ' and ' if not loop.last }}{% endfor %}
{%- else %}

select * from counted
{%- endif %}
