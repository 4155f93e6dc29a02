-- One row per order in its current state, with the flags the KPIs count.
--
-- Incremental (DuckDB, PostgreSQL; macros/incremental.sql): a build recomputes every order of the
-- customers whose int_customers_first_ordered row was rewritten since the watermark (is_first_order
-- may have moved) and of the current customers of the orders rewritten in int_orders_current since
-- then (their state changed), and replaces their rows (delete+insert on order_id). Both sets are
-- zone-map-pruned reads of the rows those models appended. A customer left without a placed order
-- has no row to rewrite, but its old first order is itself a rewritten order, recomputed under its
-- current customer. Orders never disappear. Spark: a table.
{{ config(
    materialized=incremental_or_table(),
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with
{%- if is_incremental() %}
{%- set since = watermark(this) %}
affected as (
    select customer_id from {{ ref('int_customers_first_ordered') }} where _inputs_loaded_at > {{ since }}
    union
    select customer_id from {{ ref('int_orders_current') }} where _inputs_loaded_at > {{ since }}
),
{%- endif %}

orders as (
    select *
    from {{ ref('int_orders_current') }}
    {%- if is_incremental() %}
    where customer_id in (select customer_id from affected)
    {%- endif %}
),

first_orders as (
    select customer_id, first_order_id
    from {{ ref('int_customers_first_ordered') }}
    {%- if is_incremental() %}
    where customer_id in (select customer_id from affected)
    {%- endif %}
)

select
    o.order_id,
    o.customer_id,
    o.checkout_id,
    o.created_at,
    o.updated_at,
    o.channel,
    o.order_type,
    o.status,
    o.plan,
    o.deployment,
    o.seats,
    o.amount,
    o.currency,
    o.is_placed,
    o.is_self_service,
    case when fo.first_order_id is not null then true else false end as is_first_order,
    o.manual_intervention,
    o.intervention_reason,
    {{ newest_loaded_at([ref('stg_orders')]) }} as _inputs_loaded_at
from orders as o
left join first_orders as fo
    on fo.first_order_id = o.order_id
    and fo.customer_id = o.customer_id
