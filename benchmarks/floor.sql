-- The floor: the public marts of kpi-definitions.md computed from the landing files in one plain
-- DuckDB script, with no orchestration, no validation, no data checks, no audit tables and no
-- published copy. It is what the same engine on the same machine needs at least, so the pipeline's
-- time divided by this one's is the cost of everything else (ingestion rules, dbt, checks, Dagster).
--
-- benchmarks/floor.py fills in the three placeholders before running it:
--   {events_source}  a SELECT of the checkout events with the contract's columns, every file of the
--                    landing directory (read_parquet / read_json with explicit columns)
--   {orders_source}  the same for order versions (read_parquet / read_csv, all text)
--   {window_days}    the conversion window in days
-- The session must run with TimeZone = 'UTC' (strings without an offset are UTC).
--
-- It assumes input that passes the contract (the generator writes only such input): repeated
-- deliveries are identical copies, so de-duplication keeps any one copy.

-- ---- load: typed, UTC, de-duplicated ------------------------------------------------------------
CREATE OR REPLACE TEMP TABLE events AS
SELECT DISTINCT ON (event_id)
    event_id, event_name, event_time, checkout_id, customer_id, plan, deployment, seats, country, device
FROM ({events_source});

CREATE OR REPLACE TEMP TABLE order_versions AS
SELECT DISTINCT ON (order_id, updated_at) *
FROM ({orders_source});

-- ---- orders' current state and first orders ----------------------------------------------------
CREATE OR REPLACE TEMP TABLE orders_current AS
SELECT *,
       status IN ('completed', 'refunded') AS is_placed,
       status IN ('completed', 'refunded') AND channel = 'web_direct' AS is_self_service
FROM order_versions
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1;

CREATE OR REPLACE TEMP TABLE first_orders AS
SELECT customer_id, order_id AS first_order_id, created_at AS first_order_created_at
FROM orders_current
WHERE is_placed
QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY created_at, order_id COLLATE "binary") = 1;

-- ---- the funnel ---------------------------------------------------------------------------------
CREATE OR REPLACE TEMP TABLE step_1 AS
SELECT checkout_id, customer_id, plan, deployment, country, device, seats,
       event_time AS started_at, event_time + INTERVAL ({window_days}) DAY AS window_ends_at
FROM events
WHERE event_name = 'checkout_started'
QUALIFY row_number() OVER (PARTITION BY checkout_id ORDER BY event_time, event_id COLLATE "binary") = 1;

CREATE OR REPLACE TEMP TABLE steps AS
WITH s2 AS (
    SELECT p.checkout_id, min(e.event_time) AS t
    FROM step_1 p JOIN events e ON e.checkout_id = p.checkout_id
     AND e.event_name = 'subscription_details_completed'
     AND e.event_time >= p.started_at AND e.event_time <= p.window_ends_at
    GROUP BY p.checkout_id
), s3 AS (
    SELECT p.checkout_id, min(e.event_time) AS t
    FROM s2 p JOIN step_1 s USING (checkout_id) JOIN events e ON e.checkout_id = p.checkout_id
     AND e.event_name = 'billing_address_completed'
     AND e.event_time >= p.t AND e.event_time <= s.window_ends_at
    GROUP BY p.checkout_id
), s4 AS (
    SELECT p.checkout_id, min(e.event_time) AS t
    FROM s3 p JOIN step_1 s USING (checkout_id) JOIN events e ON e.checkout_id = p.checkout_id
     AND e.event_name = 'payment_method_completed'
     AND e.event_time >= p.t AND e.event_time <= s.window_ends_at
    GROUP BY p.checkout_id
), s5 AS (
    SELECT p.checkout_id, min(e.event_time) AS t
    FROM s4 p JOIN step_1 s USING (checkout_id) JOIN events e ON e.checkout_id = p.checkout_id
     AND e.event_name = 'order_submitted'
     AND e.event_time >= p.t AND e.event_time <= s.window_ends_at
    GROUP BY p.checkout_id
), s6 AS (
    SELECT p.checkout_id, o.order_id, o.created_at AS t
    FROM s5 p JOIN step_1 s USING (checkout_id) JOIN orders_current o ON o.checkout_id = p.checkout_id
     AND o.is_self_service AND o.created_at >= s.started_at AND o.created_at <= s.window_ends_at
    QUALIFY row_number() OVER (PARTITION BY p.checkout_id ORDER BY o.created_at, o.order_id COLLATE "binary") = 1
)
SELECT s1.*,
       CASE WHEN s6.checkout_id IS NOT NULL THEN 6 WHEN s5.checkout_id IS NOT NULL THEN 5
            WHEN s4.checkout_id IS NOT NULL THEN 4 WHEN s3.checkout_id IS NOT NULL THEN 3
            WHEN s2.checkout_id IS NOT NULL THEN 2 ELSE 1 END AS reached_step,
       s6.order_id, s6.t AS converted_at
FROM step_1 s1
LEFT JOIN s2 USING (checkout_id) LEFT JOIN s3 USING (checkout_id) LEFT JOIN s4 USING (checkout_id)
LEFT JOIN s5 USING (checkout_id) LEFT JOIN s6 USING (checkout_id);

-- ---- public marts -------------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS marts;

CREATE OR REPLACE TABLE marts.fct_checkouts AS
SELECT s.checkout_id, s.customer_id, s.started_at,
       NOT coalesce(f.first_order_created_at < s.started_at, false) AS is_new_customer,
       s.plan, s.deployment, s.country, s.device, s.seats,
       CAST(s.reached_step AS INTEGER) AS reached_step,
       s.reached_step = 6 AS converted, s.order_id,
       CASE WHEN s.reached_step = 6 THEN (epoch(s.converted_at) - epoch(s.started_at)) / 3600.0 END AS hours_to_convert
FROM steps s LEFT JOIN first_orders f USING (customer_id);

CREATE OR REPLACE TABLE marts.fct_orders AS
SELECT o.order_id, o.customer_id, o.checkout_id, o.created_at, o.channel, o.order_type, o.status,
       o.plan, o.deployment, o.seats, o.amount, o.currency, o.is_placed, o.is_self_service,
       f.first_order_id IS NOT NULL AS is_first_order, o.manual_intervention, o.intervention_reason
FROM orders_current o LEFT JOIN first_orders f ON f.first_order_id = o.order_id AND f.customer_id = o.customer_id;

CREATE OR REPLACE TABLE marts.warehouse_as_of AS
SELECT greatest((SELECT max(event_time) FROM events), (SELECT max(updated_at) FROM order_versions)) AS as_of,
       CAST({window_days} AS INTEGER) AS conversion_window_days;

CREATE OR REPLACE TABLE marts.funnel_steps AS
WITH names(step_number, step_name) AS (
    VALUES (1, 'checkout_started'), (2, 'subscription_details_completed'), (3, 'billing_address_completed'),
           (4, 'payment_method_completed'), (5, 'order_submitted'), (6, 'order_placed')
), by_grain AS (
    SELECT g.grain, CAST(date_trunc(g.grain, c.started_at) AS DATE) AS period_start, c.reached_step,
           count(*) AS checkouts, count(*) FILTER (WHERE c.is_new_customer) AS new_customer_checkouts
    FROM marts.fct_checkouts c CROSS JOIN (VALUES ('day'), ('week'), ('month')) g(grain)
    GROUP BY ALL
)
SELECT b.grain, b.period_start, CAST(n.step_number AS INTEGER) AS step_number, n.step_name,
       CAST(coalesce(sum(b.checkouts) FILTER (WHERE b.reached_step >= n.step_number), 0) AS BIGINT) AS checkouts,
       CAST(coalesce(sum(b.new_customer_checkouts) FILTER (WHERE b.reached_step >= n.step_number), 0) AS BIGINT)
           AS new_customer_checkouts
FROM by_grain b CROSS JOIN names n
GROUP BY ALL;

-- KPIs per period: cohort KPIs dated by t1, order KPIs by the placed order's created_at; every
-- period from the first to the last with either, no gaps.
CREATE OR REPLACE TEMP MACRO kpi_table(grain) AS TABLE
WITH cohorts AS (
    SELECT CAST(date_trunc(grain, started_at) AS DATE) AS period_start,
           count(*) AS checkouts_started,
           count(*) FILTER (WHERE converted) AS checkouts_converted,
           count(*) FILTER (WHERE is_new_customer) AS new_customer_checkouts_started,
           count(*) FILTER (WHERE is_new_customer AND converted) AS new_customer_checkouts_converted,
           CAST(quantile_cont(hours_to_convert, 0.5) AS DOUBLE) AS median_hours_to_convert
    FROM marts.fct_checkouts GROUP BY 1
), order_counts AS (
    SELECT CAST(date_trunc(grain, created_at) AS DATE) AS period_start,
           count(*) FILTER (WHERE is_first_order) AS first_orders,
           count(*) FILTER (WHERE is_first_order AND is_self_service) AS self_service_first_orders,
           count(*) FILTER (WHERE is_self_service) AS self_service_orders,
           count(*) FILTER (WHERE is_self_service AND manual_intervention) AS manual_intervention_orders,
           count(*) FILTER (WHERE is_first_order AND is_self_service AND manual_intervention)
               AS self_service_first_orders_with_intervention
    FROM marts.fct_orders WHERE is_placed GROUP BY 1
), spine AS (
    SELECT CAST(unnest(generate_series(CAST(min(period_start) AS TIMESTAMP), CAST(max(period_start) AS TIMESTAMP),
                CASE grain WHEN 'day' THEN INTERVAL 1 DAY WHEN 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 MONTH END))
                AS DATE) AS period_start
    FROM (SELECT period_start FROM cohorts UNION ALL SELECT period_start FROM order_counts)
    HAVING min(period_start) IS NOT NULL
), counted AS (
    SELECT s.period_start,
           CAST(CASE grain WHEN 'day' THEN s.period_start + INTERVAL 1 DAY WHEN 'week' THEN s.period_start + INTERVAL 7 DAY
                ELSE s.period_start + INTERVAL 1 MONTH END AS DATE) AS period_end,
           coalesce(c.checkouts_started, 0) AS checkouts_started,
           coalesce(c.checkouts_converted, 0) AS checkouts_converted,
           coalesce(c.new_customer_checkouts_started, 0) AS new_customer_checkouts_started,
           coalesce(c.new_customer_checkouts_converted, 0) AS new_customer_checkouts_converted,
           coalesce(o.first_orders, 0) AS first_orders,
           coalesce(o.self_service_first_orders, 0) AS self_service_first_orders,
           coalesce(o.self_service_orders, 0) AS self_service_orders,
           coalesce(o.manual_intervention_orders, 0) AS manual_intervention_orders,
           coalesce(o.self_service_first_orders_with_intervention, 0) AS self_service_first_orders_with_intervention,
           c.median_hours_to_convert
    FROM spine s LEFT JOIN cohorts c USING (period_start) LEFT JOIN order_counts o USING (period_start)
)
SELECT period_start,
       CAST(checkouts_started AS BIGINT) AS checkouts_started,
       CAST(checkouts_converted AS BIGINT) AS checkouts_converted,
       CAST(checkouts_converted AS DOUBLE) / nullif(checkouts_started, 0) AS checkout_conversion_rate,
       CAST(new_customer_checkouts_started AS BIGINT) AS new_customer_checkouts_started,
       CAST(new_customer_checkouts_converted AS BIGINT) AS new_customer_checkouts_converted,
       CAST(new_customer_checkouts_converted AS DOUBLE) / nullif(new_customer_checkouts_started, 0)
           AS first_order_conversion_rate,
       CAST(first_orders AS BIGINT) AS first_orders,
       CAST(self_service_first_orders AS BIGINT) AS self_service_first_orders,
       CAST(self_service_first_orders AS DOUBLE) / nullif(first_orders, 0) AS self_service_first_order_share,
       CAST(self_service_orders AS BIGINT) AS self_service_orders,
       CAST(manual_intervention_orders AS BIGINT) AS manual_intervention_orders,
       CAST(manual_intervention_orders AS DOUBLE) / nullif(self_service_orders, 0) AS manual_intervention_rate,
       CAST(self_service_first_orders_with_intervention AS BIGINT) AS self_service_first_orders_with_intervention,
       CAST(self_service_first_orders_with_intervention AS DOUBLE) / nullif(self_service_first_orders, 0)
           AS first_order_manual_intervention_rate,
       median_hours_to_convert,
       CAST(period_end AS TIMESTAMP) + INTERVAL ({window_days}) DAY <= (SELECT as_of FROM marts.warehouse_as_of)
           AS cohort_complete
FROM counted;

CREATE OR REPLACE TABLE marts.kpi_daily AS SELECT * FROM kpi_table('day');
CREATE OR REPLACE TABLE marts.kpi_weekly AS SELECT * FROM kpi_table('week');
CREATE OR REPLACE TABLE marts.kpi_monthly AS SELECT * FROM kpi_table('month');
