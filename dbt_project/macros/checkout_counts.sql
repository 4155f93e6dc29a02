{#-
  Checkout counts of the dashboard marts.

  A checkout's row as the dashboard marts see it is `dashboard_checkout_columns()`, the one home of
  how they code it (segments 'unknown' when absent, the cohort day). dash_checkout_steps holds those
  rows; dash_funnel_daily and dash_dropoffs count them per group (`checkout_counts_by_difference`).
  A table's build (dash_dropoffs; every counting mart on Spark, which has no deletes) counts every
  checkout once. An incremental model's build (dash_funnel_daily) maintains the counts by difference.

  Why by difference: late order changes touch checkouts in most cohort days every day, so
  recomputing the groups a build touches would read most of fct_checkouts. The counts are additive
  instead: a build counts each checkout fct_checkouts rewrote twice, its new version (+1, from
  fct_checkouts) and its previous one (-1, from dash_checkout_steps, which copies fct_checkouts'
  rewritten rows only after the incremental counting marts are built: its `depends_on`; its
  watermark is the point up to which they all have seen fct_checkouts). The affected groups are
  replaced (delete+insert on the group) by their old counts plus the difference; a group left
  without checkouts is written with 0 (so that its old row is deleted) and removed by the post-hook
  `delete_placeholders`. A build that fails after a counting mart and before dash_checkout_steps is
  followed by a full refresh (pipelines/assets/dbt.py full_refresh_reason: the facts carry rows
  newer than the last published build). tests/test_incremental_marts.py compares two incremental
  runs with a fresh build, on DuckDB and on PostgreSQL.
-#}

{#- The columns of a checkout's row for the dashboard marts, from fct_checkouts. -#}
{% macro dashboard_checkout_columns() -%}
    cast(started_at as date) as cohort_date,
    checkout_id,
    customer_id,
    started_at,
    {{ value_or_unknown('plan') }} as plan,
    {{ value_or_unknown('deployment') }} as deployment,
    {{ value_or_unknown('country') }} as country,
    {{ value_or_unknown('device') }} as device,
    is_new_customer,
    reached_step,
    subscription_details_completed_at,
    billing_address_completed_at,
    payment_method_completed_at,
    order_submitted_at,
    converted_at,
    hours_to_convert,
    payment_failures,
    payment_error_code,
    _inputs_loaded_at
{%- endmacro %}


{#- The body of a counting mart: per group of `groups` (output names; `group_sources` maps a name to
    the checkout column it comes from when they differ), each measure of `measures` (name, the
    checkout's contribution as an expression), summed over the checkouts matching `checkouts_where`.
    An incremental model's config: unique_key = groups, delete+insert, post-hook
    `delete_placeholders` on the count of checkouts = 0. -#}
{% macro checkout_counts_by_difference(groups, measures, checkouts_where='1 = 1', group_sources={}) -%}
{%- set steps = api.Relation.create(database=this.database, schema=this.schema, identifier='dash_checkout_steps') %}
{%- set since = watermark(steps) if is_incremental() %}
{%- set group_columns = [] %}
{%- for name in groups %}{% do group_columns.append(group_sources.get(name, name) ~ ' as ' ~ name) %}{% endfor %}

with versions as (
    select {{ group_columns | join(', ') }}
        {%- for name, contribution in measures %}, {{ contribution }} as {{ name }}{% endfor %}, 1 as sign
    from (
        select {{ dashboard_checkout_columns() }}
        from {{ ref('fct_checkouts') }}
        {%- if is_incremental() %}
        where _inputs_loaded_at > {{ since }}
        {%- endif %}
    ) as checkout
    where {{ checkouts_where }}
    {%- if is_incremental() %}

    union all

    -- The previous version of each rewritten checkout.
    select {{ group_columns | join(', ') }}
        {%- for name, contribution in measures %}, {{ contribution }} as {{ name }}{% endfor %}, -1 as sign
    from {{ steps }} as checkout
    where {{ checkouts_where }}
        and checkout_id in (
            select checkout_id from {{ ref('fct_checkouts') }} where _inputs_loaded_at > {{ since }}
        )
    {%- endif %}
),

counted as (
    select
        {{ groups | join(', ') }}
        {%- for name, _ in measures %},
        cast(sum(sign * {{ name }}) as {{ dbt.type_bigint() }}) as {{ name }}
        {%- endfor %}
    from versions
    group by {{ groups | join(', ') }}
)

{%- if is_incremental() %}

select
    {%- for name in groups %}
    d.{{ name }},
    {%- endfor %}
    {%- for name, _ in measures %}
    coalesce(t.{{ name }}, 0) + d.{{ name }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
from counted as d
left join {{ this }} as t
    on {% for name in groups %}t.{{ name }} = d.{{ name }}{{ ' and ' if not loop.last }}{% endfor %}
{%- else %}

select * from counted
{%- endif %}
{%- endmacro %}
