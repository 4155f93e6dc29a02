-- The latest self-service orders that needed manual intervention (ids only, no customer data), newest
-- first, limited to the 500 newest: the manual-intervention page lists the latest 50 without sorting
-- fct_orders on every visit. Ties on created_at are broken by order_id (as the page always did).
-- Portable SQL (a window function, no LIMIT; ids compared in byte order on every engine): runs on
-- DuckDB, PostgreSQL and Spark.
-- A table, rebuilt every run: ~0.15-0.25 s at 10M events, and a new order or a late status change
-- shifts every rank, so there is nothing to update in place.
{{ config(materialized='table') }}

with ranked as (
    select
        order_id,
        checkout_id,
        created_at,
        plan,
        deployment,
        seats,
        is_first_order,
        intervention_reason,
        row_number() over (order by created_at desc, {{ byte_order('order_id') }}) as recency_rank
    from {{ ref('fct_orders') }}
    where is_self_service and manual_intervention
)

select
    cast(recency_rank as integer) as recency_rank,
    order_id,
    checkout_id,
    created_at,
    plan,
    deployment,
    seats,
    is_first_order,
    intervention_reason
from ranked
where recency_rank <= 500
