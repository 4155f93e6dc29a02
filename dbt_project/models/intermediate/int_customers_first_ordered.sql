-- One row per customer with at least one placed order: the first order, i.e. the earliest placed
-- order by created_at, ties broken by the smallest order_id in byte (C) order, whatever its channel.
-- Built on the orders' current state, so a status change that un-places an order moves it.
--
-- Incremental (DuckDB, PostgreSQL; macros/incremental.sql customers_with_orders_changed_since): a
-- build recomputes, from all their orders' current state, the current customers of the orders
-- rewritten in int_orders_current since the watermark and the customers whose first order is one of
-- them, and replaces their rows (delete+insert on customer_id). A customer left without a placed
-- order (its only one cancelled, or moved to another customer) gets a placeholder row with a NULL
-- first order, so that delete+insert removes its old row; the post-hook deletes the placeholders
-- before the build commits. Spark: a table.
{{ config(
    materialized=incremental_or_table(),
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="{{ delete_placeholders('first_order_id is null') }}",
) }}

with
{%- if is_incremental() %}
affected as (
    {{ customers_with_orders_changed_since(watermark(this), this) }}
),
{%- endif %}

ranked as (
    select
        customer_id,
        order_id,
        created_at,
        channel,
        is_self_service,
        manual_intervention,
        row_number() over (
            partition by customer_id
            order by created_at, {{ byte_order('order_id') }}
        ) as placed_rank
    from {{ ref('int_orders_current') }}
    where is_placed
    {%- if is_incremental() %}
        and customer_id in (select customer_id from affected)
    {%- endif %}
),

first_orders as (
    select
        customer_id,
        order_id            as first_order_id,
        created_at          as first_order_created_at,
        channel             as first_order_channel,
        is_self_service     as first_order_is_self_service,
        manual_intervention as first_order_manual_intervention
    from ranked
    where placed_rank = 1
)

select
    customer_id,
    first_order_id,
    first_order_created_at,
    first_order_channel,
    first_order_is_self_service,
    first_order_manual_intervention,
    {{ newest_loaded_at([ref('stg_orders')]) }} as _inputs_loaded_at
from first_orders
{%- if is_incremental() %}

union all

-- Placeholders: affected customers without a placed order (deleted by the post-hook).
select
    a.customer_id,
    null as first_order_id,
    null as first_order_created_at,
    null as first_order_channel,
    null as first_order_is_self_service,
    null as first_order_manual_intervention,
    {{ newest_loaded_at([ref('stg_orders')]) }} as _inputs_loaded_at
from affected as a
where not exists (select 1 from first_orders as f where f.customer_id = a.customer_id)
{%- endif %}
