"""The synthetic data generator: contract validity, planted rates recovered with plain DuckDB SQL
straight over the generated files, determinism, formats, and a second call on the same directory.

The SQL here reads the files independently of the pipeline's ingestion code on purpose: it checks
the generator, not the loader.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tools.generate import (
    ERROR_CODES,
    INTERVENTION_REASONS,
    STEP_NAMES,
    GenerationSummary,
    PlantedRates,
    generate_landing,
)

END = date(2026, 6, 30)
DAYS = 100
# Checkouts started this long before the end have had every planted step happen (pauses <= 45 days).
SETTLED = timedelta(days=46)
Z = 4.5  # tolerance in standard errors; the seed is fixed, so this is about honesty, not flakiness


# --- reading the landing files with DuckDB ---------------------------------------------------

EVENT_COLUMNS = {
    "event_id": "VARCHAR", "event_name": "VARCHAR", "event_time": "VARCHAR", "checkout_id": "VARCHAR",
    "customer_id": "VARCHAR", "plan": "VARCHAR", "deployment": "VARCHAR", "seats": "DOUBLE",
    "country": "VARCHAR", "device": "VARCHAR", "error_code": "VARCHAR", "customer_email": "VARCHAR",
}
ORDER_COLUMNS = [
    "order_id", "customer_id", "checkout_id", "created_at", "updated_at", "channel", "order_type", "status",
    "plan", "deployment", "seats", "amount", "currency", "manual_intervention", "intervention_reason",
]


def _files(root: Path, sub: str, *suffixes: str) -> list[str]:
    return sorted(str(p) for p in (root / sub).iterdir() if p.name.endswith(suffixes))


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def _connect(root: Path) -> duckdb.DuckDBPyConnection:
    """Views `events` (every delivered row, typed, UTC) and `orders` (every version row)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    parts = []
    jsonl = _files(root, "checkout_events", ".jsonl", ".jsonl.gz")
    if jsonl:
        cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in EVENT_COLUMNS.items()) + "}"
        parts.append(
            f"""SELECT * REPLACE (CAST(CAST(event_time AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) AS event_time),
                       'json' AS fmt
                FROM read_json({_sql_list(jsonl)}, format = 'newline_delimited', columns = {cols}, filename = true)"""
        )
    parquet = _files(root, "checkout_events", ".parquet")
    if parquet:
        cols = ", ".join(
            "CAST(event_time AS TIMESTAMP) AS event_time" if c == "event_time"
            else f'CAST("{c}" AS {t}) AS "{c}"' for c, t in EVENT_COLUMNS.items()
        )
        parts.append(
            f"SELECT {cols}, filename, 'parquet' AS fmt "
            f"FROM read_parquet({_sql_list(parquet)}, union_by_name = true, filename = true)"
        )
    con.execute("CREATE VIEW events AS " + " UNION ALL BY NAME ".join(parts))

    ts = "CAST(CAST({c} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)"
    parts = []
    csv = _files(root, "orders", ".csv")
    if csv:
        types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in ORDER_COLUMNS + ["sales_note"]) + "}"
        parts.append(
            f"""SELECT * EXCLUDE (sales_note) REPLACE (
                    {ts.format(c='created_at')} AS created_at,
                    coalesce({ts.format(c='updated_at')}, {ts.format(c='created_at')}) AS updated_at,
                    CAST(seats AS INTEGER) AS seats, CAST(amount AS DECIMAL(18, 2)) AS amount,
                    lower(manual_intervention) IN ('true', '1') AS manual_intervention),
                    manual_intervention AS mi_text, 'csv' AS fmt
                FROM read_csv({_sql_list(csv)}, header = true, columns = {types}, filename = true,
                              quote = '"', escape = '"', all_varchar = true)"""
        )
    parquet = _files(root, "orders", ".parquet")
    if parquet:
        parts.append(
            f"""SELECT * EXCLUDE (source_system) REPLACE (
                    CAST(created_at AS TIMESTAMP) AS created_at,
                    CAST(coalesce(updated_at, created_at) AS TIMESTAMP) AS updated_at,
                    CAST(amount AS DECIMAL(18, 2)) AS amount),
                    CAST(manual_intervention AS VARCHAR) AS mi_text, 'parquet' AS fmt
                FROM read_parquet({_sql_list(parquet)}, union_by_name = true, filename = true)"""
        )
    con.execute("CREATE VIEW orders AS " + " UNION ALL BY NAME ".join(parts))
    return con


def _one(con, sql: str):
    return con.execute(sql).fetchall()[0]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, GenerationSummary, duckdb.DuckDBPyConnection]:
    root = tmp_path_factory.mktemp("mixed")
    summary = generate_landing(root, days=DAYS, checkouts_per_day=150, seed=11, end_date=END)
    con = _connect(root)
    # Per checkout, the funnel steps as a sequence (earliest time >= the previous step), no window.
    step_ctes = []
    for k, name in enumerate(STEP_NAMES[1:], start=2):
        step_ctes.append(
            f"""s{k} AS (SELECT s.checkout_id, min(e.event_time) AS t{k} FROM s{k - 1} s JOIN ev e
                 ON e.checkout_id = s.checkout_id AND e.event_name = '{name}' AND e.event_time >= s.t{k - 1}
                 GROUP BY ALL)"""
        )
    con.execute(
        f"""CREATE TABLE funnel AS
        WITH ev AS (SELECT DISTINCT event_id, event_name, event_time, checkout_id FROM events),
        s1 AS (SELECT checkout_id, min(event_time) AS t1 FROM ev WHERE event_name = 'checkout_started' GROUP BY ALL),
        {", ".join(step_ctes)},
        o AS (SELECT DISTINCT checkout_id, created_at FROM orders WHERE channel = 'web_direct'),
        s6 AS (SELECT s.checkout_id, min(o.created_at) AS t6 FROM s1 s JOIN o USING (checkout_id)
               WHERE o.created_at >= s.t1 GROUP BY ALL)
        SELECT s1.checkout_id, t1, t2, t3, t4, t5, CASE WHEN t5 IS NOT NULL THEN t6 END AS t6,
               EXISTS (SELECT 1 FROM ev WHERE ev.checkout_id = s1.checkout_id AND event_name = 'payment_failed')
                 AS payment_failed
        FROM s1 LEFT JOIN s2 USING (checkout_id) LEFT JOIN s3 USING (checkout_id) LEFT JOIN s4 USING (checkout_id)
             LEFT JOIN s5 USING (checkout_id) LEFT JOIN s6 USING (checkout_id)"""
    )
    con.execute(
        """CREATE TABLE current_orders AS
           SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1"""
    )
    yield root, summary, con
    con.close()


def _assert_rate(successes: int, trials: int, planted: float, what: str) -> None:
    assert trials >= 200, f"{what}: too few trials ({trials}) to check the planted rate"
    observed = successes / trials
    tolerance = Z * math.sqrt(planted * (1 - planted) / trials) + 1e-9
    assert abs(observed - planted) <= tolerance, (
        f"{what}: observed {observed:.4f} over {trials}, planted {planted} (tolerance {tolerance:.4f})"
    )


# --- planted rates ---------------------------------------------------------------------------------


def test_step_continue_rates_match_planted(mixed):
    _, summary, con = mixed
    planted = PlantedRates()
    cutoff = datetime.combine(END + timedelta(days=1), datetime.min.time()) - SETTLED
    counts = _one(
        con,
        f"""SELECT count(t1), count(t2), count(t3), count(t4), count(t5), count(t6)
            FROM funnel WHERE t1 < TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}'""",
    )
    rates = list(planted.step_continue) + [planted.order_rate]
    for k, rate in enumerate(rates):
        _assert_rate(counts[k + 1], counts[k], rate, f"step {k + 1} -> {k + 2}")
    # the summary's reach counts agree with what the files hold (no cutoff, no window)
    assert list(_one(con, "SELECT count(t1), count(t2), count(t3), count(t4), count(t5), count(t6) FROM funnel")) \
        == summary.checkouts_reaching_step


def test_payment_failure_share_matches_planted(mixed):
    _, _, con = mixed
    cutoff = datetime.combine(END + timedelta(days=1), datetime.min.time()) - SETTLED
    failed, dropped = _one(
        con,
        f"""SELECT count(*) FILTER (WHERE payment_failed), count(*) FROM funnel
            WHERE t4 IS NOT NULL AND t5 IS NULL AND t1 < TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}'""",
    )
    _assert_rate(failed, dropped, PlantedRates().payment_failure_share, "payment failures among drop-offs after payment")
    # failures also precede some successful submissions (retries), and carry an error code
    retried = _one(con, "SELECT count(*) FROM funnel WHERE t5 IS NOT NULL AND payment_failed")[0]
    assert retried > 0


def test_manual_intervention_rate_of_self_service_orders_matches_planted(mixed):
    _, _, con = mixed
    with_mi, total = _one(
        con,
        """SELECT count(*) FILTER (WHERE manual_intervention), count(*) FROM current_orders
           WHERE channel = 'web_direct' AND status IN ('completed', 'refunded')""",
    )
    _assert_rate(with_mi, total, PlantedRates().manual_intervention_rate, "manual intervention, self-service")
    offline = _one(
        con,
        """SELECT avg(manual_intervention::INT) FROM current_orders
           WHERE channel = 'sales_assisted' AND status IN ('completed', 'refunded')""",
    )[0]
    assert offline > 0.2  # sales orders need a person far more often


def test_overrides_are_planted(tmp_path):
    summary = generate_landing(tmp_path, days=40, checkouts_per_day=150, seed=3, end_date=END,
                               formats="parquet", step_continue=(0.5, 0.9, 0.6, 0.95), order_rate=0.8,
                               manual_intervention_rate=0.25)
    assert summary.rates["step_continue"] == (0.5, 0.9, 0.6, 0.95)
    con = _connect(tmp_path)
    with_mi, total = _one(
        con,
        """SELECT count(*) FILTER (WHERE manual_intervention), count(*) FROM
           (SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) = 1)
           WHERE channel = 'web_direct' AND status IN ('completed', 'refunded')""",
    )
    _assert_rate(with_mi, total, 0.25, "overridden manual intervention rate")
    started, detailed = _one(
        con,
        """SELECT count(DISTINCT checkout_id) FILTER (WHERE event_name = 'checkout_started'),
                  count(DISTINCT checkout_id) FILTER (WHERE event_name = 'subscription_details_completed')
           FROM events""",
    )
    _assert_rate(detailed, started, 0.5, "overridden step 1 -> 2")


# --- contract validity -------------------------------------------------------------------------


def test_every_event_row_is_valid(mixed):
    _, summary, con = mixed
    names = ", ".join(f"'{n}'" for n in STEP_NAMES + ("payment_failed",))
    codes = ", ".join(f"'{c}'" for c in ERROR_CODES)
    bad = _one(
        con,
        f"""SELECT count(*) FILTER (WHERE event_id IS NULL OR event_name IS NULL OR event_time IS NULL
                                      OR checkout_id IS NULL OR customer_id IS NULL),
                   count(*) FILTER (WHERE event_name NOT IN ({names})),
                   count(*) FILTER (WHERE plan NOT IN ('premium', 'ultimate')
                                      OR deployment NOT IN ('saas', 'self_managed')
                                      OR device NOT IN ('desktop', 'mobile', 'tablet')),
                   count(*) FILTER (WHERE seats < 1 OR seats <> floor(seats)),
                   count(*) FILTER (WHERE NOT regexp_full_match(country, '[A-Z]{{2}}')),
                   count(*) FILTER (WHERE (event_name = 'payment_failed') <> (error_code IS NOT NULL)
                                      OR error_code NOT IN ({codes})),
                   count(*) FILTER (WHERE customer_email NOT LIKE '%@example.com'),
                   count(*) FILTER (WHERE event_name <> 'checkout_started'
                                      AND coalesce(plan, deployment, device, country, customer_email) IS NOT NULL)
            FROM events""",
    )
    assert bad == (0,) * 8
    assert _one(con, "SELECT count(*) FROM events")[0] == summary.events


def test_every_order_row_is_valid(mixed):
    _, summary, con = mixed
    reasons = ", ".join(f"'{r}'" for r in INTERVENTION_REASONS)
    bad = _one(
        con,
        f"""SELECT count(*) FILTER (WHERE order_id IS NULL OR customer_id IS NULL OR created_at IS NULL
                   OR channel IS NULL OR order_type IS NULL OR status IS NULL OR amount IS NULL
                   OR currency IS NULL OR mi_text IS NULL),
               count(*) FILTER (WHERE channel NOT IN ('web_direct', 'sales_assisted', 'reseller')
                   OR order_type NOT IN ('new_subscription', 'renewal', 'add_seats', 'upgrade')
                   OR status NOT IN ('completed', 'refunded', 'failed', 'cancelled')),
               count(*) FILTER (WHERE lower(mi_text) NOT IN ('true', 'false', '1', '0')),
               count(*) FILTER (WHERE plan NOT IN ('premium', 'ultimate') OR deployment NOT IN ('saas', 'self_managed')),
               count(*) FILTER (WHERE seats < 1 OR amount < 0 OR NOT regexp_full_match(currency, '[A-Za-z]{{3}}')),
               count(*) FILTER (WHERE updated_at < created_at),
               count(*) FILTER (WHERE manual_intervention <> (intervention_reason IS NOT NULL)
                   OR intervention_reason NOT IN ({reasons})),
               count(*) FILTER (WHERE (channel = 'web_direct') <> (checkout_id IS NOT NULL))
            FROM orders""",
    )
    assert bad == (0,) * 8
    assert _one(con, "SELECT count(*) FROM orders")[0] == summary.order_rows
    # a self-service order's checkout is in the events, unless it predates them (history orders)
    orphans = _one(
        con,
        """SELECT count(*) FROM orders o WHERE channel = 'web_direct' AND created_at >= TIMESTAMP '2026-03-23'
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.checkout_id = o.checkout_id)""",
    )[0]
    assert orphans == 0


def test_no_timestamp_after_the_end_date(mixed):
    _, _, con = mixed
    latest_event, earliest_event = _one(con, "SELECT max(event_time), min(event_time) FROM events")
    latest_order = _one(con, "SELECT max(updated_at) FROM orders")[0]
    end = datetime.combine(END + timedelta(days=1), datetime.min.time())
    assert latest_event < end and latest_order < end
    assert earliest_event >= end - timedelta(days=DAYS)
    # and the default end date (yesterday) keeps everything before now
    now = datetime.now(UTC).replace(tzinfo=None)
    assert datetime.combine(date.today(), datetime.min.time()) <= now + timedelta(days=1)


def test_ids_unique_except_deliberate_duplicates(mixed):
    _, summary, con = mixed
    rows, distinct = _one(con, "SELECT count(*), count(DISTINCT event_id) FROM events")
    assert rows - distinct == summary.duplicate_events > 0
    # a repeated delivery is the same event, never another event reusing an id
    conflicting = _one(
        con,
        """SELECT count(*) FROM (SELECT event_id FROM events GROUP BY event_id
           HAVING count(DISTINCT (event_name, event_time, checkout_id, customer_id, coalesce(error_code, ''))) > 1)""",
    )[0]
    assert conflicting == 0
    same_file, other_file = _one(
        con,
        """SELECT count(*) FILTER (WHERE files = 1), count(*) FILTER (WHERE files > 1) FROM
           (SELECT event_id, count(DISTINCT filename) AS files FROM events GROUP BY event_id HAVING count(*) > 1)""",
    )
    assert same_file > 0 and other_file > 0
    assert _one(con, "SELECT count(DISTINCT checkout_id) FROM events WHERE event_name = 'checkout_started'")[0] \
        == _one(con, "SELECT count(*) FROM events WHERE event_name = 'checkout_started'")[0] - _one(
            con, "SELECT count(*) - count(DISTINCT event_id) FROM events WHERE event_name = 'checkout_started'")[0]

    rows, distinct = _one(con, "SELECT count(*), count(DISTINCT (order_id, updated_at)) FROM orders")
    assert rows - distinct == summary.duplicate_order_rows > 0
    conflicting = _one(
        con,
        """SELECT count(*) FROM (SELECT order_id, updated_at FROM orders GROUP BY ALL
           HAVING count(DISTINCT (status, customer_id, created_at, amount, manual_intervention)) > 1)""",
    )[0]
    assert conflicting == 0
    assert _one(con, "SELECT count(*) FROM current_orders")[0] == summary.orders


# --- realism -------------------------------------------------------------------------------------


def test_realistic_variety(mixed):
    root, summary, con = mixed
    lines = [line for p in sorted((root / "checkout_events").glob("*.jsonl")) for line in p.read_text().splitlines()]
    times = [json.loads(line)["event_time"] for line in lines if line]
    assert any(t.endswith("Z") for t in times) and any(t.endswith("+02:00") for t in times)
    assert any(t.endswith("-05:00") for t in times) and any(len(t) == 19 and " " in t for t in times)
    assert any('"app_version"' in line for line in lines)  # an unknown column
    assert any('"seats": null' in line for line in lines) and any('.0, "' in line for line in lines)

    funnel = _one(
        con,
        """SELECT count(*) FILTER (WHERE t6 < t5),
                  count(*) FILTER (WHERE t6 > t1 + INTERVAL 30 DAY),
                  count(*) FILTER (WHERE t6 BETWEEN t1 + INTERVAL 2 DAY AND t1 + INTERVAL 30 DAY)
           FROM funnel""",
    )
    assert all(c > 0 for c in funnel), funnel  # order before submit, beyond the window, days later
    gaps = _one(con, "SELECT median(epoch(t2) - epoch(t1)), median(epoch(t5) - epoch(t4)) FROM funnel")
    assert 30 < gaps[0] < 600 and 20 < gaps[1] < 600  # minutes, not days
    repeats = _one(
        con,
        """SELECT count(*) FROM (SELECT checkout_id, event_name FROM (SELECT DISTINCT event_id, checkout_id,
           event_name FROM events) GROUP BY ALL HAVING count(*) > 1)""",
    )[0]
    assert repeats > 0
    codes = {r[0] for r in con.execute("SELECT DISTINCT error_code FROM events WHERE error_code IS NOT NULL").fetchall()}
    assert {"card_declined", "3ds_failed", "address_mismatch"} <= codes

    mix = dict(con.execute("SELECT device, count(*) FROM events WHERE device IS NOT NULL GROUP BY ALL").fetchall())
    assert mix["desktop"] > mix["mobile"] > mix["tablet"] > 0
    assert _one(con, "SELECT count(DISTINCT country) FROM events")[0] >= 20

    customers = _one(
        con,
        """WITH c AS (SELECT DISTINCT checkout_id, customer_id, event_time FROM events WHERE event_name = 'checkout_started')
           SELECT (SELECT count(*) FROM (SELECT customer_id FROM c GROUP BY ALL HAVING count(*) > 1)),
                  (SELECT count(*) FROM c WHERE EXISTS (SELECT 1 FROM current_orders o WHERE o.customer_id = c.customer_id
                      AND o.status IN ('completed', 'refunded') AND o.created_at < c.event_time))""",
    )
    assert customers[0] > 0 and customers[1] > 0.1 * summary.checkouts  # repeat and returning customers

    orders = dict(con.execute("SELECT channel, count(*) FROM current_orders GROUP BY ALL").fetchall())
    assert orders["web_direct"] > orders["sales_assisted"] > orders["reseller"] > 0
    statuses = dict(con.execute("SELECT status, count(*) FROM current_orders GROUP BY ALL").fetchall())
    assert statuses["completed"] > 0.85 * sum(statuses.values()) and min(statuses.values()) > 0
    assert {r[0] for r in con.execute("SELECT DISTINCT order_type FROM orders").fetchall()} == {
        "new_subscription", "renewal", "add_seats", "upgrade"}
    reasons = {r[0] for r in con.execute("SELECT DISTINCT intervention_reason FROM orders").fetchall()}
    assert set(INTERVENTION_REASONS) <= reasons
    spellings = {r[0] for r in con.execute("SELECT DISTINCT mi_text FROM orders WHERE fmt = 'csv'").fetchall()}
    assert {"true", "True", "1", "false", "False", "0"} <= spellings
    assert _one(con, "SELECT count(*) FROM orders WHERE currency <> upper(currency)")[0] > 0
    # status changes arrive in later files than the order itself
    later = _one(
        con,
        """SELECT count(*) FROM orders a JOIN orders b ON a.order_id = b.order_id AND b.updated_at > a.updated_at
           WHERE b.filename > a.filename AND b.updated_at > a.created_at + INTERVAL 1 DAY""",
    )[0]
    assert later > 0
    # CSV quoting: a field with quotes and a comma survives the round trip
    notes = "".join(p.read_text() for p in (root / "orders").glob("*.csv"))
    assert '""partner""' in notes


def test_files_formats_and_order(mixed):
    root, summary, _ = mixed
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                     if p.is_file() and p.parts[len(root.parts)] in ("checkout_events", "orders"))
    assert written == sorted(summary.files)
    suffixes = {name.split(".", 1)[1] for name in summary.files}
    assert suffixes == {"jsonl", "jsonl.gz", "parquet", "csv"}
    for sub in ("checkout_events", "orders"):
        names = [n for n in summary.files if n.startswith(sub)]
        days = [n.split("-")[1] for n in names]
        assert days == sorted(days) and names == sorted(names, key=lambda n: n.split("-")[1])
    saved = json.loads((root / "_generation.json").read_text())
    assert saved == json.loads(json.dumps(summary.to_json())) | {"previous_runs": []}


@pytest.mark.parametrize(
    "formats, events, orders",
    [("parquet", {"parquet"}, {"parquet"}), ("jsonl.gz", {"jsonl.gz"}, {"csv"}), ("jsonl", {"jsonl"}, {"csv"})],
)
def test_single_formats(tmp_path, formats, events, orders):
    summary = generate_landing(tmp_path, days=6, checkouts_per_day=30, seed=2, end_date=END, formats=formats,
                               days_per_file=2)
    assert {n.split(".", 1)[1] for n in summary.files if n.startswith("checkout_events/")} == events
    assert {n.split(".", 1)[1] for n in summary.files if n.startswith("orders/")} == orders
    assert len([n for n in summary.files if n.startswith("checkout_events/")]) == 3
    con = _connect(tmp_path)
    assert _one(con, "SELECT count(*) FROM events")[0] == summary.events
    assert _one(con, "SELECT count(*) FROM orders")[0] == summary.order_rows


def test_deterministic_for_a_seed(tmp_path):
    def run(name, seed):
        generate_landing(tmp_path / name, days=8, checkouts_per_day=40, seed=seed, end_date=END)
        return {p.relative_to(tmp_path / name).as_posix(): p.read_bytes()
                for p in sorted((tmp_path / name).rglob("*")) if p.is_file() and p.name != "_generation.json"}

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first == again
    assert first.keys() == other.keys() and first != other


# --- a later call on the same directory -----------------------------------------------------------


def test_second_call_adds_a_day_with_its_own_ids(tmp_path):
    first = generate_landing(tmp_path, days=30, checkouts_per_day=80, seed=1, end_date=END)
    second = generate_landing(tmp_path, days=1, checkouts_per_day=80, seed=1, end_date=END + timedelta(days=1),
                              id_prefix="d2-", late_status_change_rate_per_day=0.05)
    assert second.run_index == 1 and not set(first.files) & set(second.files)
    assert all(n.split("-")[1] == "20260701" for n in second.files)  # only the new day's files
    con = _connect(tmp_path)
    # the new call's ids never collide with the first call's
    assert _one(con, "SELECT count(*) FROM events WHERE filename LIKE '%-r01.%' AND NOT starts_with(event_id, 'd2-')")[0] == 0
    assert _one(con, "SELECT count(*) - count(DISTINCT event_id) FROM events")[0] \
        == first.duplicate_events + second.duplicate_events
    # late status changes: new versions of first-call orders, completed before, refunded/cancelled now
    late = con.execute(
        """SELECT n.order_id, n.status, o.status FROM orders n JOIN orders o USING (order_id)
           WHERE n.filename LIKE '%-r01.%' AND NOT starts_with(n.order_id, 'd2-') AND o.filename LIKE '%-r00%'
                 AND n.updated_at > o.updated_at"""
    ).fetchall()
    assert second.late_status_changes > 0
    assert len({r[0] for r in late}) == second.late_status_changes
    assert {r[1] for r in late} <= {"refunded", "cancelled"}
    # returning customers of the new day are customers of the first call
    assert _one(
        con,
        """SELECT count(*) FROM events WHERE starts_with(event_id, 'd2-') AND event_name = 'checkout_started'
           AND NOT starts_with(customer_id, 'd2-')""",
    )[0] > 0
    saved = json.loads((tmp_path / "_generation.json").read_text())
    assert saved["id_prefix"] == "d2-" and saved["previous_runs"][0]["id_prefix"] == ""
    with pytest.raises(ValueError, match="already used"):
        generate_landing(tmp_path, days=1, end_date=END, id_prefix="d2-")


# --- arguments -----------------------------------------------------------------------------------


def test_rejects_bad_arguments(tmp_path):
    today = datetime.now(UTC).date()
    with pytest.raises(ValueError, match="future"):
        generate_landing(tmp_path / "a", days=1, end_date=today + timedelta(days=1))
    with pytest.raises(ValueError, match="formats"):
        generate_landing(tmp_path / "b", days=1, end_date=END, formats="xml")
    with pytest.raises(ValueError, match="id_prefix"):
        generate_landing(tmp_path / "c", days=1, end_date=END, id_prefix='x"')
    with pytest.raises(ValueError, match="probabilities"):
        generate_landing(tmp_path / "d", days=1, end_date=END, order_rate=1.5)
    with pytest.raises(TypeError):
        generate_landing(tmp_path / "e", days=1, end_date=END, no_such_rate=0.1)
    assert {f.name for f in dataclasses.fields(PlantedRates)} >= {"step_continue", "manual_intervention_rate"}


def test_default_end_date_is_yesterday_and_nothing_is_in_the_future(tmp_path):
    summary = generate_landing(tmp_path, days=2, checkouts_per_day=20, seed=4)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert summary.end_date == yesterday.isoformat()
    con = _connect(tmp_path)
    now = datetime.now(UTC).replace(tzinfo=None)
    assert _one(con, "SELECT max(event_time) FROM events")[0] <= now
    assert _one(con, "SELECT max(updated_at) FROM orders")[0] <= now


def test_no_checkouts_still_writes_valid_files(tmp_path):
    summary = generate_landing(tmp_path, days=3, checkouts_per_day=0, seed=1, end_date=END)
    assert summary.checkouts == 0 and summary.events == 0
