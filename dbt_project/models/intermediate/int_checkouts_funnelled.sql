{#-
  One row per checkout in the funnel (one with a checkout_started event), with the time it reached
  each step (NULL unless the step counts). kpi-definitions.md "The funnel":
  - t1: earliest checkout_started; a tie at t1 goes to the smallest event_id (byte order), whose
    customer and attributes are the checkout's.
  - tk (k = 2..5): earliest event of step k's name with time >= t(k-1) (ties at one instant are in
    order), counted only when t(k-1) counted and tk <= t1 + window (timestamps compared, never day
    counts).
  - t6: earliest created_at of a self-service (placed, web_direct) order with this checkout_id and
    t1 <= created_at <= t1 + window, only when step 5 counted; a tie goes to the smallest order_id.
  Each step is a set-based join of one event name to the previous step's checkouts.

  Incremental (DuckDB, PostgreSQL): a run recomputes only the checkouts whose inputs changed since
  the last build (`_inputs_loaded_at`, the newest `_loaded_at` the build saw): checkouts with new
  events, checkouts named by new order versions (step 6 may change), and every checkout of a
  customer with new order versions (their first order, and so is_new_customer, may change). Each
  such checkout is rebuilt from all its events, so the result equals a full rebuild. Spark's plain
  Parquet tables cannot delete rows: there it is a table.
-#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='checkout_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- set step_names = funnel_step_names() -%}

with
{% if is_incremental() %}
watermark as (
    -- An empty table (e.g. after `dbt build --empty`) has seen nothing yet: everything is new.
    select coalesce(max(_inputs_loaded_at), {{ dbt.cast('\'1900-01-01 00:00:00\'', dbt.type_timestamp()) }}) as loaded_at
    from {{ this }}
),

changed_orders as (
    select customer_id, checkout_id
    from {{ ref('stg_orders') }}
    where _loaded_at > (select loaded_at from watermark)
),

affected as (
    select checkout_id
    from {{ ref('stg_checkout_events') }}
    where _loaded_at > (select loaded_at from watermark)
    union
    select checkout_id from changed_orders where checkout_id is not null
    union
    select checkout_id
    from {{ ref('stg_checkout_events') }}
    where event_name = '{{ step_names[0] }}'
        and customer_id in (select customer_id from changed_orders)
),
{% endif %}

inputs_loaded as (
    select max(loaded_at) as loaded_at
    from (
        select max(_loaded_at) as loaded_at from {{ ref('stg_checkout_events') }}
        union all
        select max(_loaded_at) as loaded_at from {{ ref('stg_orders') }}
    ) as newest
),

checkout_events as (
    select *
    from {{ ref('stg_checkout_events') }}
    {% if is_incremental() -%}
    where checkout_id in (select checkout_id from affected)
    {%- endif %}
),

events as (
    select event_id, event_name, event_time, checkout_id
    from checkout_events
),

starts_ranked as (
    select
        checkout_id,
        customer_id,
        event_time,
        plan,
        deployment,
        country,
        device,
        seats,
        row_number() over (
            partition by checkout_id
            order by event_time, {{ byte_order('event_id') }}
        ) as start_rank
    from checkout_events
    where event_name = '{{ step_names[0] }}'
),

step_1 as (
    select
        checkout_id,
        customer_id,
        plan,
        deployment,
        country,
        device,
        seats,
        event_time as started_at,
        {{ window_end('event_time') }} as window_ends_at,
        event_time as reached_at
    from starts_ranked
    where start_rank = 1
),

{% for k in range(2, 6) %}
step_{{ k }} as (
    select
        p.checkout_id,
        min(p.started_at) as started_at,
        min(p.window_ends_at) as window_ends_at,
        min(e.event_time) as reached_at
    from step_{{ k - 1 }} as p
    inner join events as e
        on e.checkout_id = p.checkout_id
        and e.event_time >= p.reached_at
        and e.event_time <= p.window_ends_at
    where e.event_name = '{{ step_names[k - 1] }}'
    group by p.checkout_id
),

{% endfor %}
orders_ranked as (
    select
        p.checkout_id,
        o.order_id,
        o.created_at,
        row_number() over (
            partition by p.checkout_id
            order by o.created_at, {{ byte_order('o.order_id') }}
        ) as order_rank
    from step_5 as p
    inner join {{ ref('int_orders_current') }} as o
        on o.checkout_id = p.checkout_id
        and o.is_self_service
        and o.created_at >= p.started_at
        and o.created_at <= p.window_ends_at
),

step_6 as (
    select checkout_id, order_id, created_at as reached_at
    from orders_ranked
    where order_rank = 1
)

select
    s1.checkout_id,
    s1.customer_id,
    s1.started_at,
    s1.plan,
    s1.deployment,
    s1.country,
    s1.device,
    s1.seats,
    case
        when fo.first_order_created_at is not null and fo.first_order_created_at < s1.started_at then false
        else true
    end as is_new_customer,
    s2.reached_at as subscription_details_completed_at,
    s3.reached_at as billing_address_completed_at,
    s4.reached_at as payment_method_completed_at,
    s5.reached_at as order_submitted_at,
    s6.reached_at as order_placed_at,
    case
        when s6.checkout_id is not null then 6
        when s5.checkout_id is not null then 5
        when s4.checkout_id is not null then 4
        when s3.checkout_id is not null then 3
        when s2.checkout_id is not null then 2
        else 1
    end as reached_step,
    case when s6.checkout_id is not null then true else false end as converted,
    s6.order_id,
    case
        when s6.checkout_id is not null then {{ hours_between('s1.started_at', 's6.reached_at') }}
    end as hours_to_convert,
    (select loaded_at from inputs_loaded) as _inputs_loaded_at
from step_1 as s1
left join step_2 as s2 on s2.checkout_id = s1.checkout_id
left join step_3 as s3 on s3.checkout_id = s1.checkout_id
left join step_4 as s4 on s4.checkout_id = s1.checkout_id
left join step_5 as s5 on s5.checkout_id = s1.checkout_id
left join step_6 as s6 on s6.checkout_id = s1.checkout_id
left join {{ ref('int_customers_first_ordered') }} as fo on fo.customer_id = s1.customer_id
