{#-
  Engine-specific SQL lives here, one dispatched macro per construct, with a `default__`
  implementation (ANSI / PostgreSQL) and a `duckdb__` one. Models only call these and dbt's
  cross-database macros (dbt.date_trunc, dbt.dateadd, dbt.type_*, ...).
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
