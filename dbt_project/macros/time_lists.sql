{#-
  Lists of timestamps gathered per group, then searched per row: how int_checkouts_funnelled finds
  every step in one GROUP BY instead of a join per step. Engine-specific, so dispatched like
  macros/portability.sql: `default__` (ANSI / PostgreSQL arrays), `duckdb__` (lists), `spark__`
  (arrays with higher-order functions).
-#}

{#- An aggregate: the values of `expr` in the group, as a list (NULL or empty when there are none).
    Takes a FILTER (WHERE ...) clause like any aggregate. -#}
{% macro time_list(expr) -%}
    {{ return(adapter.dispatch('time_list', 'checkout_funnel')(expr)) }}
{%- endmacro %}

{% macro default__time_list(expr) -%}
    array_agg({{ expr }})
{%- endmacro %}

{% macro duckdb__time_list(expr) -%}
    list({{ expr }})
{%- endmacro %}

{% macro spark__time_list(expr) -%}
    collect_list({{ expr }})
{%- endmacro %}


{#- The earliest value of the list `times` within [`low`, `high`] (both inclusive); NULL when none is,
    or when `times`, `low` or `high` is NULL. -#}
{% macro earliest_between(times, low, high) -%}
    {{ return(adapter.dispatch('earliest_between', 'checkout_funnel')(times, low, high)) }}
{%- endmacro %}

{% macro default__earliest_between(times, low, high) -%}
    (select min(listed.t) from unnest({{ times }}) as listed(t) where listed.t >= {{ low }} and listed.t <= {{ high }})
{%- endmacro %}

{% macro duckdb__earliest_between(times, low, high) -%}
    list_min(list_filter({{ times }}, lambda listed_t: listed_t >= {{ low }} and listed_t <= {{ high }}))
{%- endmacro %}

{% macro spark__earliest_between(times, low, high) -%}
    array_min(filter({{ times }}, listed_t -> listed_t >= {{ low }} and listed_t <= {{ high }}))
{%- endmacro %}
