-- One row per checkout in the funnel, ordered by cohort day: its segments (coded as in
-- dash_funnel_daily), the time of each step within the conversion window the warehouse was built
-- with, its hours to convert, and its payment failures. The funnel page computes the funnel of any
-- shorter window, the time between steps and the time to convert (exact quantiles and the histogram:
-- quantiles are not additive, so they need the values) from these rows, and the drop-off page lists
-- who stopped after a step
-- (dashboards/data.py): a date range reads only the blocks of its cohort days (min/max pruning), where
-- fct_checkouts, in no particular order, is read whole. Measured at 10M events (2.78M checkouts), the
-- default 28 days, cold: the window's funnel totals took ~360 ms p50 from fct_checkouts (load ~12) and
-- ~100 ms from this table (load ~15).
--
-- Incremental (DuckDB, PostgreSQL; macros/incremental.sql), like fct_checkouts: a build copies the
-- checkouts fct_checkouts rewrote since this table's watermark and replaces their rows
-- (delete+insert on checkout_id). Each batch is ordered by cohort day and appended, so the new
-- days' rows follow the older ones in order; a rewritten older checkout lands at the end, widening
-- only the newest blocks' date range. Rebuilding the table whole and publishing it whole cost
-- ~3 s of one more day at 10M events. Spark: a table (no deletes).
-- Portable SQL: runs on DuckDB, PostgreSQL and Spark.
-- Its columns: macros/checkout_counts.sql dashboard_checkout_columns. Built after dash_funnel_daily,
-- which reads the previous version of the checkouts this build rewrites from here (it is maintained
-- by difference, macros/checkout_counts.sql):
-- depends_on: {{ ref('dash_funnel_daily') }}
{{ config(
    materialized=incremental_or_table(),
    unique_key='checkout_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

select {{ dashboard_checkout_columns() }}
from {{ ref('fct_checkouts') }}
{%- if is_incremental() %}
where _inputs_loaded_at > {{ watermark(this) }}
{%- endif %}
order by cohort_date, started_at, checkout_id
