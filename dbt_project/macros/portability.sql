{#-
  Engine-specific SQL lives here, one dispatched macro per construct: `default__` (ANSI /
  PostgreSQL), `duckdb__` and `spark__`. Models only call these and dbt's cross-database macros
  (dbt.date_trunc, dbt.type_*, ...). Every macro here is exercised on every target by
  tests/engines/test_macros.py (DuckDB, PostgreSQL, Spark).
-#}

{#- A timestamp as seconds since 1970-01-01 00:00:00 (UTC), with its fraction. -#}
{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'checkout_funnel')(ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
    extract(epoch from {{ ts }})
{%- endmacro %}

{% macro duckdb__epoch_seconds(ts) -%}
    epoch({{ ts }})
{%- endmacro %}

{% macro spark__epoch_seconds(ts) -%}
    (unix_micros({{ ts }}) / 1000000.0)
{%- endmacro %}


{#- Hours from `start_ts` to `end_ts`, from seconds, as a double (never a count of boundaries). -#}
{% macro hours_between(start_ts, end_ts) -%}
    (cast({{ epoch_seconds(end_ts) }} as {{ type_double() }}) - cast({{ epoch_seconds(start_ts) }} as {{ type_double() }})) / 3600.0
{%- endmacro %}


{#- An 8-byte floating point type (dbt.type_float() is 4 bytes on some engines). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'checkout_funnel')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}


{#- A rate: numerator / denominator in floating point, NULL when the denominator is 0. -#}
{% macro safe_rate(numerator, denominator) -%}
    case when {{ denominator }} = 0 then null
         else cast({{ numerator }} as {{ type_double() }}) / cast({{ denominator }} as {{ type_double() }}) end
{%- endmacro %}


{#- Exact median as an aggregate: an even count gives the mean of the two middle values. -#}
{% macro exact_median(expr) -%}
    {{ return(adapter.dispatch('exact_median', 'checkout_funnel')(expr)) }}
{%- endmacro %}

{% macro default__exact_median(expr) -%}
    cast(percentile_cont(0.5) within group (order by {{ expr }}) as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__exact_median(expr) -%}
    cast(quantile_cont({{ expr }}, 0.5) as double)
{%- endmacro %}

{% macro spark__exact_median(expr) -%}
    cast(percentile({{ expr }}, 0.5) as double)
{%- endmacro %}


{#- An id as a sort key in byte order (C collation): `B7` < `a-2` < `a1` on every engine.
    Use in ORDER BY (also inside window functions). -#}
{% macro byte_order(expr) -%}
    {{ return(adapter.dispatch('byte_order', 'checkout_funnel')(expr)) }}
{%- endmacro %}

{% macro default__byte_order(expr) -%}
    {{ expr }} collate "C"
{%- endmacro %}

{% macro duckdb__byte_order(expr) -%}
    {{ expr }} collate "binary"
{%- endmacro %}

{% macro spark__byte_order(expr) -%}
    {#- Spark compares strings by their UTF-8 bytes. -#}
    {{ expr }}
{%- endmacro %}


{#- One row per period start (a DATE, column `period_start`) from the `lo_col` to the `hi_col`
    period start (both DATEs, already truncated to `grain`) of the one-row relation `bounds`.
    `grain` is `day`, `week` or `month`. No row when the bounds are NULL. -#}
{% macro period_series(grain, bounds, lo_col, hi_col) -%}
    {{ return(adapter.dispatch('period_series', 'checkout_funnel')(grain, bounds, lo_col, hi_col)) }}
{%- endmacro %}

{% macro default__period_series(grain, bounds, lo_col, hi_col) -%}
    select cast(g.p as date) as period_start
    from {{ bounds }} as b
    cross join lateral generate_series(
        cast(b.{{ lo_col }} as timestamp), cast(b.{{ hi_col }} as timestamp), interval '1 {{ grain }}'
    ) as g(p)
    where b.{{ lo_col }} is not null
{%- endmacro %}

{% macro duckdb__period_series(grain, bounds, lo_col, hi_col) -%}
    select cast(s.p as date) as period_start
    from (
        select unnest(generate_series(
            cast(b.{{ lo_col }} as timestamp), cast(b.{{ hi_col }} as timestamp), interval 1 {{ grain }}
        )) as p
        from {{ bounds }} as b
        where b.{{ lo_col }} is not null
    ) as s
{%- endmacro %}

{% macro spark__period_series(grain, bounds, lo_col, hi_col) -%}
    select cast(p as date) as period_start
    from (
        select explode(sequence(
            cast(b.{{ lo_col }} as timestamp), cast(b.{{ hi_col }} as timestamp), interval 1 {{ grain }}
        )) as p
        from {{ bounds }} as b
        where b.{{ lo_col }} is not null
    ) as s
{%- endmacro %}


{#- `expr` (a DATE or TIMESTAMP) plus `n` `datepart`s (day, week, month), keeping the time of day to
    the microsecond. dbt.dateadd on Spark goes through unix seconds (drops fractions of a second),
    so Spark uses its native interval arithmetic: the same value, exactly. -#}
{% macro add_interval(datepart, n, expr) -%}
    {{ return(adapter.dispatch('add_interval', 'checkout_funnel')(datepart, n, expr)) }}
{%- endmacro %}

{% macro default__add_interval(datepart, n, expr) -%}
    {{ dbt.dateadd(datepart, n, expr) }}
{%- endmacro %}

{% macro spark__add_interval(datepart, n, expr) -%}
    {%- if datepart == 'day' -%}
        ({{ expr }} + make_dt_interval({{ n }}))
    {%- elif datepart == 'week' -%}
        ({{ expr }} + make_dt_interval(7 * ({{ n }})))
    {%- elif datepart == 'month' -%}
        ({{ expr }} + make_ym_interval(0, {{ n }}))
    {%- else -%}
        {{ exceptions.raise_compiler_error("add_interval: unsupported datepart " ~ datepart) }}
    {%- endif -%}
{%- endmacro %}


{#- The raw and audit sources on engines that read the published Parquet directly (Spark): external
    tables over the folders that pipelines.engines.export writes, created (or re-pointed) before every
    dbt command by the on-run-start hook. Elsewhere the sources are real tables (DuckDB: ingestion;
    PostgreSQL: pipelines.engines.postgres loads them with COPY): nothing to do.
    The folder: env FUNNEL_RAW_PARQUET_DIR (absolute path or URI, e.g. s3a://bucket/funnel/raw). -#}
{% macro create_raw_sources() -%}
    {{ return(adapter.dispatch('create_raw_sources', 'checkout_funnel')()) }}
{%- endmacro %}

{% macro default__create_raw_sources() -%}
{%- endmacro %}

{% macro raw_source_tables() -%}
    {#- name -> (columns, partition column or none): the tables of pipelines/core/contract.py in Spark
        types (pipelines/engines/schema.py); tests/test_contract_copies.py checks they agree. -#}
    {{ return({
        'raw.checkout_events': ([
            'event_id string', 'event_name string', 'event_time timestamp', 'checkout_id string',
            'customer_id string', 'plan string', 'deployment string', 'seats int', 'country string',
            'device string', 'error_code string', '_file_path string', '_row_number bigint',
            '_loaded_at timestamp', '_run_id string', 'event_date date'], 'event_date'),
        'raw.orders': ([
            'order_id string', 'customer_id string', 'checkout_id string', 'created_at timestamp',
            'updated_at timestamp', 'channel string', 'order_type string', 'status string', 'plan string',
            'deployment string', 'seats int', 'amount decimal(38,6)', 'currency string',
            'manual_intervention boolean', 'intervention_reason string', '_file_path string',
            '_row_number bigint', '_loaded_at timestamp', '_run_id string', 'created_date date'], 'created_date'),
        'audit.load_ledger': ([
            'source string', 'file_path string', 'file_sha256 string', 'status string', 'reason string',
            'rows_read bigint', 'rows_loaded bigint', 'rows_rejected bigint', 'duplicates_dropped bigint',
            'loaded_at timestamp', 'run_id string', 'file_size bigint', 'file_modified_at timestamp'], none),
        'audit.rejected_rows': ([
            'source string', 'file_path string', 'row_number bigint', 'reason string', 'raw_record string',
            'rejected_at timestamp', 'run_id string'], none),
    }) }}
{%- endmacro %}

{% macro spark__create_raw_sources() -%}
    {%- if execute -%}
        {%- set base = env_var('FUNNEL_RAW_PARQUET_DIR', '') | trim -%}
        {%- if not base -%}
            {{ exceptions.raise_compiler_error(
                "FUNNEL_RAW_PARQUET_DIR is not set: the Spark target reads the raw rows that "
                ~ "pipelines.engines.export.export_raw_parquet wrote (see docs/engines.md)") }}
        {%- endif -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- do run_query('create database if not exists audit') -%}
        {%- for name, spec in raw_source_tables().items() -%}
            {%- set columns, partition = spec -%}
            {%- set folder = base.rstrip('/') ~ '/' ~ name.split('.')[1] -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query(
                'create table ' ~ name ~ ' (' ~ columns | join(', ') ~ ') using parquet'
                ~ (' partitioned by (' ~ partition ~ ')' if partition else '')
                ~ " location '" ~ folder ~ "'") -%}
            {%- if partition -%}
                {%- do run_query('alter table ' ~ name ~ ' recover partitions') -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
