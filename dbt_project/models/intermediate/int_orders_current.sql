-- One row per order_id: its current state, the version with the latest updated_at.
-- (order_id, updated_at) is unique in raw.orders, so the latest version is unambiguous.
--
-- Incremental (DuckDB, PostgreSQL; macros/incremental.sql): a build recomputes only the orders with
-- a version loaded after the table's watermark, each from ALL its versions (the latest may be an
-- old one: versions can arrive out of order), and replaces their rows (delete+insert on order_id).
-- Orders never disappear (raw rows are only added), so no other row can change. Spark: a table.
{{ config(
    materialized=incremental_or_table(),
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with versions as (
    select
        order_id,
        customer_id,
        checkout_id,
        created_at,
        updated_at,
        channel,
        order_type,
        status,
        plan,
        deployment,
        seats,
        amount,
        currency,
        manual_intervention,
        intervention_reason,
        row_number() over (partition by order_id order by updated_at desc) as version_rank,
        count(*) over (partition by order_id) as version_count
    from {{ ref('stg_orders') }}
    {%- if is_incremental() %}
    where order_id in ({{ orders_changed_since(watermark(this)) }})
    {%- endif %}
)

select
    order_id,
    customer_id,
    checkout_id,
    created_at,
    updated_at,
    channel,
    order_type,
    status,
    plan,
    deployment,
    seats,
    amount,
    currency,
    manual_intervention,
    intervention_reason,
    version_count,
    case when status in ('completed', 'refunded') then true else false end as is_placed,
    case when status in ('completed', 'refunded') and channel = 'web_direct' then true else false end
        as is_self_service,
    {{ newest_loaded_at([ref('stg_orders')]) }} as _inputs_loaded_at
from versions
where version_rank = 1
