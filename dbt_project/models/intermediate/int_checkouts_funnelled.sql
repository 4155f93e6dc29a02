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

  Formulation: one GROUP BY over the events instead of a join and a GROUP BY per step (and a join
  back per step), which halves the full build on DuckDB.
  - `starts`: the checkout_started rows ranked per checkout; rank 1 gives t1, the customer, the
    attributes and is_new_customer.
  - `reached`: per checkout, t1 and the list of event times of each step 2..5 (one GROUP BY; lists
    are engine-specific: macros/time_lists.sql), then, one nesting level per step, tk = the earliest
    time in step k's list within [t(k-1), t1 + window]. A NULL t(k-1) finds nothing, so a step that
    does not count ends the funnel.
  - `step_6`: the first qualifying order of the checkouts that reached step 5.

  Incremental (DuckDB, PostgreSQL): a run rewrites only the checkouts whose row may change since
  the last build (`_inputs_loaded_at`, the newest `_loaded_at` the build saw), without reading the
  whole history of events:
  - checkouts with new events are rebuilt from all their events. Every event that counts lies at
    or after t1, so the events are read from the earliest t1 of these checkouts on (their stored
    started_at or a new checkout_started event), a literal the zone maps prune the older history
    with (one more day of the generator: its own day);
  - `kept`: checkouts without new events keep their events, so t1, customer, attributes and steps
    2-5 (which depend on nothing else); only step 6 and is_new_customer depend on orders. They are
    recomputed from the stored row for a checkout named by any version of an order with a new
    version (its step 6 may change), and for a checkout of a customer named by such a version
    (its first order may change) when the recomputed is_new_customer differs from the stored one.
    No other checkout can change: an order not named by a new version keeps its customer, its
    checkout and its qualifying for step 6.
  The result equals a full rebuild (tests/test_incremental_marts.py). Spark's plain Parquet tables
  cannot delete rows: there it is a table.
-#}
{{ config(
    materialized=incremental_or_table(),
    unique_key='checkout_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}
{%- set step_names = funnel_step_names() -%}
{%- if is_incremental() and execute -%}
    {#- Every event that counts for a checkout lies at or after its t1, and t1 of a checkout with new
        events is the earlier of its stored started_at and its new checkout_started events. The
        earliest such t1, as a literal (a subquery would not reach the scan), lets zone maps skip
        the history before it when those checkouts' events are read (NULL: none has a start, so
        there is nothing to read). -#}
    {%- set since = watermark(this) -%}
    {%- set earliest_t1_query -%}
        select min(started_at) from (
            select started_at from {{ this }}
            where checkout_id in (
                select checkout_id from {{ ref('stg_checkout_events') }} where _loaded_at > {{ since }}
            )
            union all
            select event_time from {{ ref('stg_checkout_events') }}
            where _loaded_at > {{ since }} and event_name = '{{ step_names[0] }}'
        ) as t1_candidates
    {%- endset -%}
    {%- set events_since = timestamp_literal(earliest_t1_query) -%}
{%- endif -%}

with
{% if is_incremental() %}
-- Every version of every order with a new version: a new version may name another customer or
-- checkout, and the old ones lose the order (their first order or their step 6 may change).
changed_orders as (
    select customer_id, checkout_id
    from {{ ref('stg_orders') }}
    where order_id in (
        {{ orders_changed_since(since) }}
    )
),

-- Checkouts with new events: rebuilt from their events (read from `events_since` on).
with_new_events as (
    select checkout_id
    from {{ ref('stg_checkout_events') }}
    where _loaded_at > {{ since }} and checkout_id is not null
),

-- Stored checkouts without new events whose row may still change. Their events, so steps 1-5,
-- customer and attributes, are unchanged: only step 6 (when a changed order names them) and
-- is_new_customer (when their customer's first order changed) are recomputed, from the stored
-- steps. A checkout of a changed customer that no changed order names is kept only when its flag
-- flips: nothing else of it depends on orders.
kept as (
    select *
    from (
        select
            t.*,
            {{ is_new_customer('fo.first_order_created_at', 't.started_at') }} as is_new_customer
        from (
            select
                checkout_id,
                customer_id,
                started_at,
                plan,
                deployment,
                country,
                device,
                seats,
                subscription_details_completed_at,
                billing_address_completed_at,
                payment_method_completed_at,
                order_submitted_at,
                is_new_customer as was_new_customer,
                checkout_id in (select checkout_id from changed_orders where checkout_id is not null)
                    as named_by_changed_order
            from {{ this }}
            where checkout_id in (select checkout_id from changed_orders where checkout_id is not null)
                or customer_id in (select customer_id from changed_orders where customer_id is not null)
        ) as t
        -- Filtered before the join: the first-order table is probed for these rows only.
        left join {{ ref('int_customers_first_ordered') }} as fo on fo.customer_id = t.customer_id
        where t.checkout_id not in (select checkout_id from with_new_events)
    ) as stored
    where named_by_changed_order or is_new_customer <> was_new_customer
),
{% endif %}

starts as (
    select
        e.checkout_id,
        e.customer_id,
        e.event_time as started_at,
        e.plan,
        e.deployment,
        e.country,
        e.device,
        e.seats,
        {{ is_new_customer('fo.first_order_created_at', 'e.event_time') }} as is_new_customer,
        row_number() over (
            partition by e.checkout_id
            order by e.event_time, {{ byte_order('e.event_id') }}
        ) as start_rank
    from {{ ref('stg_checkout_events') }} as e
    -- Joined to the start rows, not to the wide result: the (smaller) first-order table is the
    -- hash side, and only two of its columns are read.
    left join {{ ref('int_customers_first_ordered') }} as fo on fo.customer_id = e.customer_id
    where e.event_name = '{{ step_names[0] }}'
    {%- if is_incremental() %}
        and e.checkout_id in (select checkout_id from with_new_events)
        and e.event_time >= {{ events_since }}
    union all
    select
        checkout_id, customer_id, started_at, plan, deployment, country, device, seats, is_new_customer,
        1 as start_rank
    from kept
    {%- endif %}
),

-- The GROUP BY stays inside this CTE: DuckDB materialises an aggregating CTE that is read twice,
-- and the rows to keep are these narrow times, not the lists.
-- Read from the inside out: `step_times` gathers the lists, then each level adds the next step's
-- time from the previous one (a NULL previous time leaves the step NULL).
reached as (
    select checkout_id, started_at, window_ends_at, step_2_at, step_3_at, step_4_at, step_5_at
    from (
        select *, {{ earliest_between('step_5_times', 'step_4_at', 'window_ends_at') }} as step_5_at
        from (
            select *, {{ earliest_between('step_4_times', 'step_3_at', 'window_ends_at') }} as step_4_at
            from (
                select *, {{ earliest_between('step_3_times', 'step_2_at', 'window_ends_at') }} as step_3_at
                from (
                    select
                        *,
                        {{ window_end('started_at') }} as window_ends_at,
                        {{ earliest_between('step_2_times', 'started_at', window_end('started_at')) }} as step_2_at
                    from (
                        select
                            checkout_id,
                            min(case when event_name = '{{ step_names[0] }}' then event_time end) as started_at,
                            {%- for k in range(2, 6) %}
                            {{ time_list('event_time') }} filter (where event_name = '{{ step_names[k - 1] }}')
                                as step_{{ k }}_times{{ ',' if not loop.last }}
                            {%- endfor %}
                        from {{ ref('stg_checkout_events') }}
                        where event_name in ('{{ step_names[:5] | join("', '") }}')
                        {%- if is_incremental() %}
                            and checkout_id in (select checkout_id from with_new_events)
                            and event_time >= {{ events_since }}
                        {%- endif %}
                        group by checkout_id
                    ) as step_times
                ) as to_step_2
            ) as to_step_3
        ) as to_step_4
    ) as to_step_5
    {%- if is_incremental() %}
    union all
    select
        checkout_id, started_at, {{ window_end('started_at') }}, subscription_details_completed_at,
        billing_address_completed_at, payment_method_completed_at, order_submitted_at
    from kept
    {%- endif %}
),

orders_ranked as (
    select
        p.checkout_id,
        o.order_id,
        o.created_at,
        row_number() over (
            partition by p.checkout_id
            order by o.created_at, {{ byte_order('o.order_id') }}
        ) as order_rank
    from reached as p
    inner join {{ ref('int_orders_current') }} as o
        on o.checkout_id = p.checkout_id
        and o.is_self_service
        and o.created_at >= p.started_at
        and o.created_at <= p.window_ends_at
    where p.step_5_at is not null
),

step_6 as (
    select checkout_id, order_id, created_at as step_6_at
    from orders_ranked
    where order_rank = 1
)

select
    s.checkout_id,
    s.customer_id,
    s.started_at,
    s.plan,
    s.deployment,
    s.country,
    s.device,
    s.seats,
    s.is_new_customer,
    r.step_2_at as subscription_details_completed_at,
    r.step_3_at as billing_address_completed_at,
    r.step_4_at as payment_method_completed_at,
    r.step_5_at as order_submitted_at,
    s6.step_6_at as order_placed_at,
    case
        when s6.checkout_id is not null then 6
        when r.step_5_at is not null then 5
        when r.step_4_at is not null then 4
        when r.step_3_at is not null then 3
        when r.step_2_at is not null then 2
        else 1
    end as reached_step,
    case when s6.checkout_id is not null then true else false end as converted,
    s6.order_id,
    case
        when s6.checkout_id is not null then {{ hours_between('s.started_at', 's6.step_6_at') }}
    end as hours_to_convert,
    {{ newest_loaded_at([ref('stg_checkout_events'), ref('stg_orders')]) }} as _inputs_loaded_at
from starts as s
-- Every checkout with a start has its row in `reached` (the same events): an inner join.
inner join reached as r on r.checkout_id = s.checkout_id
left join step_6 as s6 on s6.checkout_id = s.checkout_id
where s.start_rank = 1
