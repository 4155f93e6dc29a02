{#-
  payment_failed events per checkout in the funnel and error code: the one home of "which payment
  failures explain a checkout's drop-off" (kpi-definitions.md: payment_failed is no step, it
  explains drop-offs). An event counts when it belongs to a checkout with a start and happened at or
  after the checkout's start (t1); a missing error_code is 'unknown'. fct_checkouts (a checkout's
  failures and main error code, which dash_dropoffs sums) and dash_payment_failures aggregate this
  table instead of each scanning the events again.

  Incremental (DuckDB, PostgreSQL; macros/incremental.sql): a checkout's failures depend on its own
  events only (its t1 and its payment_failed events), so only a checkout with a new event can
  change, and its counts only grow (events are never removed; a new start moves t1 earlier). A build
  recounts, from all their events, the checkouts with an event loaded after the watermark, and
  replaces their rows (delete+insert on checkout_id). Their t1 comes from the rows
  int_checkouts_funnelled has just rewritten (a zone-map-pruned read of the rows it appended: every
  checkout with a new event is among them), and the earliest of them, as a literal, lets zone maps
  skip the older events. Rebuilding the table read every payment_failed event and every checkout:
  0.9 s of a one-more-day build at 30M events, on the build's critical path. Spark: a table.
-#}
{{ config(
    materialized=incremental_or_table(),
    unique_key='checkout_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- if is_incremental() and execute -%}
    {%- set since = watermark(this) -%}
    {%- set recounted_query -%}
        select checkout_id, started_at
        from {{ ref('int_checkouts_funnelled') }}
        where _inputs_loaded_at > {{ since }}
            and checkout_id in (
                select checkout_id from {{ ref('stg_checkout_events') }} where _loaded_at > {{ since }}
            )
    {%- endset -%}
    {%- set events_since = timestamp_literal('select min(started_at) from (' ~ recounted_query ~ ') as recounted') -%}
{%- endif %}

with checkouts as (
    {%- if is_incremental() %}
    {{ recounted_query }}
    {%- else %}
    select checkout_id, started_at
    from {{ ref('int_checkouts_funnelled') }}
    {%- endif %}
)

select
    e.checkout_id,
    {{ value_or_unknown('e.error_code') }} as error_code,
    cast(count(*) as bigint) as failures,
    {{ newest_loaded_at([ref('stg_checkout_events'), ref('stg_orders')]) }} as _inputs_loaded_at
from {{ ref('stg_checkout_events') }} as e
inner join checkouts as c
    on e.checkout_id = c.checkout_id
where e.event_name = 'payment_failed'
  and e.event_time >= c.started_at
  {%- if is_incremental() %}
  and e.event_time >= {{ events_since }}
  {%- endif %}
group by e.checkout_id, {{ value_or_unknown('e.error_code') }}
