"""Synthetic landing data for the checkout funnel, in the input contract (data-contract.md).

One pure entry point, `generate_landing`, writes checkout events and order records under a
landing directory, with known ("planted") funnel rates so the pipeline's KPIs can be checked
against them. Everything is vectorised with numpy / pyarrow: the only Python loops run over
funnel steps and output files, never over rows. See docs/generator.md for the user's view.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["FORMATS", "STEP_NAMES", "GenerationSummary", "PlantedRates", "SegmentChange", "generate_landing"]

DAY = 86_400
HOUR = 3_600
FORMATS = ("mixed", "parquet", "jsonl.gz", "jsonl")
STEP_NAMES = (
    "checkout_started",
    "subscription_details_completed",
    "billing_address_completed",
    "payment_method_completed",
    "order_submitted",
)
EVENT_NAMES = STEP_NAMES + ("payment_failed",)
PAYMENT_FAILED = 5

PLANS = ("premium", "ultimate")
DEPLOYMENTS = ("saas", "self_managed")
DEVICES = ("desktop", "mobile", "tablet")
CHANNELS = ("web_direct", "sales_assisted", "reseller")
ORDER_TYPES = ("new_subscription", "renewal", "add_seats", "upgrade")
STATUSES = ("completed", "refunded", "failed", "cancelled")
COMPLETED, REFUNDED, FAILED, CANCELLED = range(4)
INTERVENTION_REASONS = (
    "payment_issue", "tax_exemption", "invoice_request", "provisioning_error", "quote_required", "other",
)
ERROR_CODES = ("card_declined", "insufficient_funds", "3ds_failed", "address_mismatch", "expired_card",
               "processing_error")
ERROR_CODE_MIX = (0.42, 0.14, 0.18, 0.12, 0.08, 0.06)
COUNTRIES = ("US", "DE", "GB", "FR", "CA", "IN", "NL", "BR", "JP", "AU", "ES", "IT", "PL", "SE", "CH",
             "MX", "KR", "IE", "BE", "AT", "DK", "NO", "FI", "SG", "IL", "ZA", "NZ", "PT", "CZ", "AR")
COUNTRY_WEIGHTS = (34, 9, 7, 5, 4, 5, 3, 3, 3, 3, 2.5, 2.5, 2, 2, 2,
                   1.5, 1.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
EURO_COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "IE", "BE", "AT", "FI", "PT")
CURRENCIES = ("USD", "EUR", "GBP")
FX = np.array([1.0, 0.92, 0.79])
PRICE_CENTS = np.array([34_800, 118_800])  # list price per seat and year, USD: premium, ultimate
# Checkout starts by UTC hour (Europe's afternoon overlaps America's morning).
HOUR_WEIGHTS = np.array([2, 1.5, 1.2, 1, 1, 1.2, 2, 3, 4.5, 5.5, 6, 6.2, 6, 6.3, 7, 7.5, 7.5, 7, 6, 5,
                         4.2, 3.5, 3, 2.5])
WEEKDAY_FACTORS = np.array([1.08, 1.12, 1.1, 1.06, 1.0, 0.84, 0.8])  # Monday first
# JSON/CSV timestamp styles: UTC "Z", +02:00, -05:00, naive "YYYY-MM-DD HH:MM:SS" (UTC).
STYLE_OFFSETS = np.array([0, 2 * HOUR, -5 * HOUR, 0])
STYLE_SUFFIXES = ("Z", "+02:00", "-05:00", "")
STYLE_MIX = (0.55, 0.15, 0.15, 0.15)
CSV_BOOLEANS = (("true", "True", "TRUE", "1"), ("false", "False", "FALSE", "0"))
SALES_NOTES = ('Quote Q-{n}, signed', 'renewal via "partner" portal', 'PO required, net 30', 'multi-year, see CRM')
APP_VERSIONS = ("16.4.1", "16.5.0", "16.6.2", "16.7.0")
MAX_LATE_DELAY = 45 * DAY
_ID_PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]*")
STATE_DIR = "_generator_state"


@dataclass(frozen=True)
class PlantedRates:
    """Rates the generator plants. Every one is a probability in [0, 1] (tuples: each item).

    The funnel rates are sequence rates over all time (ignoring the 30-day window): the share of
    checkouts that reached step k and go on to step k+1, whenever that happens.
    """

    # P(reach step k+1 | reached step k) for k = 1..4 (started -> subscription -> billing -> payment
    # -> submitted). The payment step (3 -> 4) varies by device (see mobile/tablet_payment_factor),
    # normalised so the population rate is the planted one.
    step_continue: tuple[float, float, float, float] = (0.78, 0.86, 0.74, 0.85)
    # P(a self-service order is created for the checkout | order_submitted), any status.
    order_rate: float = 0.93
    # Of checkouts that stop after payment_method_completed: share with payment_failed event(s).
    payment_failure_share: float = 0.45
    # Of checkouts that reach order_submitted: share that first had a payment_failed and repeated
    # payment_method_completed.
    payment_retry_rate: float = 0.07
    # Of self-service (web_direct) orders: share with manual_intervention = true.
    manual_intervention_rate: float = 0.06
    sales_manual_intervention_rate: float = 0.40
    reseller_manual_intervention_rate: float = 0.25
    # Of checkouts: started by a customer who already has placed orders.
    returning_customer_share: float = 0.20
    # Of checkouts: a second (third...) checkout by a customer of a recent earlier checkout.
    repeat_checkout_share: float = 0.08
    # Of checkouts: a pause of hours to 45 days before one later step (~1/4 of them > 25 days).
    late_share: float = 0.04
    # Of self-service orders: created 1-10 s before order_submitted (else 2-90 s after).
    order_before_submit_share: float = 0.15
    # Of checkouts past step 1: one step emitted twice (new event_id).
    repeat_step_rate: float = 0.10
    # Of events / order rows: delivered twice (half in the same file, half in the next one).
    duplicate_event_rate: float = 0.01
    duplicate_order_rate: float = 0.01
    # Final status mix of self-service orders: completed, refunded, failed, cancelled.
    web_status_mix: tuple[float, float, float, float] = (0.93, 0.03, 0.025, 0.015)
    offline_status_mix: tuple[float, float, float, float] = (0.95, 0.01, 0.01, 0.03)
    # Of failed self-service orders: a second order for the same checkout minutes later.
    failed_order_retry_rate: float = 0.5
    # Sales-assisted / reseller orders per checkout (volume), and the share of abandoned checkouts
    # (reached step 2+, no order) later bought through sales.
    sales_orders_per_checkout: float = 0.08
    reseller_orders_per_checkout: float = 0.03
    sales_rescue_rate: float = 0.03
    # Relative continue rate at the payment step by device (desktop = 1).
    mobile_payment_factor: float = 0.85
    tablet_payment_factor: float = 0.95
    # checkout_started events carrying a customer_email (fake, @example.com).
    email_share: float = 0.30
    # Later calls on the same directory: per day of the new range, the probability that an earlier
    # completed order gets a refunded/cancelled version.
    late_status_change_rate_per_day: float = 0.001

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"{f.name} must be probabilities in [0, 1], got {value!r}")
        if len(self.step_continue) != 4:
            raise ValueError("step_continue needs 4 rates (steps 1->2, 2->3, 3->4, 4->5)")
        for name in ("web_status_mix", "offline_status_mix"):
            mix = getattr(self, name)
            if len(mix) != 4 or abs(sum(mix) - 1.0) > 1e-9:
                raise ValueError(f"{name} needs 4 shares summing to 1")
        if self.returning_customer_share + self.repeat_checkout_share > 1:
            raise ValueError("returning_customer_share + repeat_checkout_share must be <= 1")


@dataclass(frozen=True)
class SegmentChange:
    """A planted change in one segment from a given day: checkouts of that segment started on or
    after `since` get `value` as their `rate` instead of the planted one (e.g. the order rate of mobile
    checkouts drops), so a KPI moves because of one segment (`funnel generate --rate-change`)."""

    rate: str  # a PlantedRates field that can vary per checkout: order_rate
    value: float
    column: str  # plan, deployment, device, country or customer (new / returning)
    segment: str
    since: date

    RATES = ("order_rate",)
    COLUMNS = ("plan", "deployment", "device", "country", "customer")

    @classmethod
    def parse(cls, text: str) -> SegmentChange:
        """`RATE=VALUE,COLUMN=SEGMENT,since=YYYY-MM-DD`, e.g. `order_rate=0.2,device=mobile,since=2026-10-05`."""
        parts = dict(part.partition("=")[::2] for part in text.split(","))
        since = parts.pop("since", "")
        rates = [name for name in parts if name in cls.RATES]
        columns = [name for name in parts if name in cls.COLUMNS]
        if len(parts) != 2 or len(rates) != 1 or len(columns) != 1 or not since:
            raise ValueError(f"expected RATE=VALUE,COLUMN=SEGMENT,since=YYYY-MM-DD (RATE one of {cls.RATES}, "
                             f"COLUMN one of {cls.COLUMNS}), got {text!r}")
        return cls(rates[0], float(parts[rates[0]]), columns[0], parts[columns[0]], date.fromisoformat(since))

    def _labels(self) -> tuple[str, ...]:
        """The column's values, in the order of the generator's codes for it."""
        return {"plan": PLANS, "deployment": DEPLOYMENTS, "device": DEVICES, "country": COUNTRIES,
                "customer": ("new", "returning")}.get(self.column, ())

    def validate(self) -> None:
        if self.rate not in self.RATES or not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a segment change plants one of {self.RATES} as a probability, got {self.rate}={self.value}")
        if self.segment not in self._labels():
            raise ValueError(f"segment {self.column}={self.segment!r} unknown: {self.column} is one of "
                             f"{self._labels() or self.COLUMNS}")

    def applies(self, t1: np.ndarray, codes: dict[str, np.ndarray]) -> np.ndarray:
        """Which checkouts (by start time and their segment codes) the change applies to."""
        return (t1 >= _epoch(self.since)) & (codes[self.column] == self._labels().index(self.segment))


@dataclass
class GenerationSummary:
    """What one call wrote. Also saved as `<out>/_generation.json`."""

    out_dir: str
    seed: int
    days: int
    checkouts_per_day: int
    start_date: str
    end_date: str
    formats: str
    id_prefix: str
    run_index: int
    rates: dict
    checkouts: int = 0
    checkouts_reaching_step: list[int] = field(default_factory=list)  # steps 1-5 + order (sequence)
    events: int = 0  # rows written, repeated deliveries included
    duplicate_events: int = 0
    orders: int = 0  # distinct new order_ids
    order_rows: int = 0  # version rows written, repeated deliveries included
    duplicate_order_rows: int = 0
    late_status_changes: int = 0  # new versions of orders from earlier calls
    files: list[str] = field(default_factory=list)  # relative to out_dir
    seconds: float = 0.0  # wall time of the call (not in _generation.json)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop("seconds")
        return data


# --- small vectorised helpers ------------------------------------------------------------------


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _pick(labels: tuple[str, ...], codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Labels by code; null where mask is False."""
    arr = pc.take(pa.array(labels, pa.string()), pa.array(codes, pa.int32()))
    if mask is not None:
        arr = pc.if_else(pa.array(mask), arr, pa.nulls(len(arr), pa.string()))
    return arr


def _iso(seconds: np.ndarray, style: np.ndarray) -> pa.Array:
    """ISO 8601 strings for epoch seconds, in the given offset style per row."""
    local = (seconds + STYLE_OFFSETS[style]).astype("datetime64[s]")
    text = pa.array(np.datetime_as_string(local, unit="s"), pa.string())
    text = pc.if_else(pa.array(style == 3), pc.replace_substring(text, "T", " ", max_replacements=1), text)
    return pc.binary_join_element_wise(text, _pick(STYLE_SUFFIXES, style), "")


def _timestamps(seconds: np.ndarray, tz: bool) -> pa.Array:
    arr = pa.array(seconds.astype("int64") * 1_000_000, pa.int64())
    return arr.cast(pa.timestamp("us", tz="UTC") if tz else pa.timestamp("us"))


def _quoted(arr: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', arr, '"', "")


def _json_lines(fields: list[tuple[str, pa.Array]], explicit_null: np.ndarray) -> pa.Array:
    """One JSON object per row from JSON-encoded values; a null value omits its key, or writes
    `null` where explicit_null is set. Values must need no escaping (checked by construction)."""
    pieces = []
    mask = pa.array(explicit_null)
    for i, (key, value) in enumerate(fields):
        head = ("{" if i == 0 else ", ") + f'"{key}": '
        present = pc.binary_join_element_wise(head, value, "")
        absent = pc.if_else(mask, pa.scalar(head + "null"), pa.scalar(""))
        pieces.append(pc.coalesce(present, absent))
    return pc.binary_join_element_wise(*pieces, "}\n", "")


def _joined_bytes(lines: pa.Array) -> bytes:
    """The concatenation of a string array's values, straight from its data buffer."""
    lines = lines.cast(pa.large_string())
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    _, offsets, data = lines.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    return bytes(memoryview(data)[offs[0]:offs[-1]])


def _csv_field(values: pa.Array) -> pa.Array:
    """RFC 4180 field text: quoted (quotes doubled) only when it holds a comma, quote or newline;
    null is the empty field."""
    values = pc.fill_null(values.cast(pa.string()), "")
    needs = pc.match_substring_regex(values, '[",\\r\\n]')
    quoted = _quoted(pc.replace_substring(values, '"', '""'))
    return pc.if_else(needs, quoted, values)


def _csv_bytes(table: pa.Table) -> bytes:
    """A CSV file (header, comma-separated, LF line ends) built without a loop over rows."""
    header = ",".join(table.column_names) + "\n"
    if table.num_rows == 0:
        return header.encode()
    fields = [_csv_field(table.column(c).combine_chunks()) for c in table.column_names]
    lines = pc.binary_join_element_wise(*fields, ",")
    return header.encode() + _joined_bytes(pc.binary_join_element_wise(lines, "\n", ""))


def _ordered_duplicates(rng, n: int, rate: float, file_idx: np.ndarray, n_files: int):
    """Rows to deliver twice, and the file of the second copy (same file or the next one)."""
    dup = np.nonzero(rng.random(n) < rate)[0]
    dup_file = np.minimum(file_idx[dup] + (rng.random(len(dup)) < 0.5), n_files - 1)
    return dup, dup_file


def _weekday(start: date, days: int) -> np.ndarray:
    return (start.weekday() + np.arange(days)) % 7


# --- earlier calls on the same directory -------------------------------------------------------


def _previous_runs(out: Path) -> list[dict]:
    path = out / "_generation.json"
    if not path.exists():
        for sub in ("checkout_events", "orders"):
            if (out / sub).exists() and any((out / sub).rglob("*")):
                raise ValueError(f"{out / sub} holds files not written by the generator; use an empty directory")
        return []
    data = json.loads(path.read_text())
    previous = data.pop("previous_runs", [])
    return previous + [data]


def _previous_order_state(out: Path) -> pa.Table | None:
    """Current state (latest version) of every order written by earlier calls."""
    files = sorted((out / STATE_DIR).glob("orders-r*.parquet"))
    if not files:
        return None
    table = pa.concat_tables([pq.read_table(f) for f in files])
    if table.num_rows == 0:
        return None
    table = table.sort_by([("order_id", "ascending"), ("updated_at", "descending")])
    codes = pc.dictionary_encode(table.column("order_id")).combine_chunks().indices.to_numpy()
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    return table.filter(pa.array(first))


# --- the generator -----------------------------------------------------------------------------


def generate_landing(
    out_dir: Path | str,
    *,
    days: int = 90,
    checkouts_per_day: int = 200,
    seed: int = 0,
    end_date: date | str | None = None,
    formats: str = "mixed",
    id_prefix: str = "",
    days_per_file: int = 1,
    history_days: int = 90,
    segment_change: SegmentChange | None = None,
    **rates,
) -> GenerationSummary:
    """Write synthetic landing data under `out_dir` and return what was written.

    - `days` days of data ending on `end_date` (default: yesterday, UTC), `checkouts_per_day`
      checkouts a day on average (weekdays busier), deterministic for `seed` (and id_prefix).
    - `formats`: "mixed" (events as .jsonl, .jsonl.gz and .parquet, orders as .csv and .parquet,
      spread over the files), "parquet" (everything Parquet), "jsonl.gz" or "jsonl" (events in
      that format, orders CSV).
    - `id_prefix` starts every id (events, checkouts, customers, orders) so that a later call on
      the same directory keeps its ids apart; each call on a directory needs a new prefix. A later
      call reuses earlier customers as returning customers and writes refunded/cancelled versions
      of earlier orders (state kept in `<out>/_generator_state/`).
    - `days_per_file`: days per file (files are named by their first day, so names sort in time).
    - `history_days`: on the first call, orders of the returning customers are placed in the
      `history_days` before the range (one history file); 0: none, every order lies in the range.
    - `segment_change`: a rate planted in one segment from a given day (SegmentChange).
    - `**rates`: any field of PlantedRates, e.g. `manual_intervention_rate=0.1`.
    """
    started_clock = datetime.now(UTC)
    out = Path(out_dir)
    planted = dataclasses.replace(PlantedRates(), **{k: tuple(v) if isinstance(v, list) else v
                                                     for k, v in rates.items()})
    planted.validate()
    if segment_change is not None:
        segment_change.validate()
    if formats not in FORMATS:
        raise ValueError(f"formats must be one of {FORMATS}, got {formats!r}")
    if not _ID_PREFIX_RE.fullmatch(id_prefix):
        raise ValueError("id_prefix may hold only letters, digits, '_', '.' and '-'")
    if days < 1 or checkouts_per_day < 0 or days_per_file < 1 or history_days < 0:
        raise ValueError("days and days_per_file must be >= 1, history_days and checkouts_per_day >= 0")
    today = started_clock.date()
    if end_date is None:
        end_date = today - timedelta(days=1)
    elif isinstance(end_date, str):
        end_date = date.fromisoformat(end_date)
    if end_date > today:
        raise ValueError(f"end_date {end_date} is in the future: the pipeline rejects future timestamps")
    start_date = end_date - timedelta(days=days - 1)
    start, end = _epoch(start_date), _epoch(end_date) + DAY  # [start, end)

    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_runs(out)
    if any(p.get("id_prefix") == id_prefix for p in previous):
        raise ValueError(
            f"id_prefix {id_prefix!r} was already used in {out}: pass a new id_prefix (--id-prefix) to add "
            "data beside the earlier call's, or write to an empty directory"
        )
    run = len(previous)
    rng = np.random.default_rng([seed, zlib.crc32(id_prefix.encode())])
    n_files = -(-days // days_per_file)
    summary = GenerationSummary(
        out_dir=str(out), seed=seed, days=days, checkouts_per_day=checkouts_per_day,
        start_date=start_date.isoformat(), end_date=end_date.isoformat(), formats=formats,
        id_prefix=id_prefix, run_index=run, rates=dataclasses.asdict(planted),
    )

    # ---- checkouts ------------------------------------------------------------------------
    weekday = _weekday(start_date, days)
    wd = WEEKDAY_FACTORS / WEEKDAY_FACTORS.mean()
    counts = rng.poisson(checkouts_per_day * wd[weekday])
    n = int(counts.sum())
    day_idx = np.repeat(np.arange(days), counts)
    hour = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    t1 = start + day_idx * DAY + hour * HOUR + rng.integers(0, HOUR, n)
    t1.sort()  # day_idx is already sorted and t1 stays within its day

    plan = (rng.random(n) < 0.26).astype(np.int64)
    deployment = (rng.random(n) < 0.32).astype(np.int64)
    device = rng.choice(3, n, p=[0.72, 0.23, 0.05])
    cweights = np.array(COUNTRY_WEIGHTS, dtype=float)
    country = rng.choice(len(COUNTRIES), n, p=cweights / cweights.sum())
    seats = np.clip(np.rint(rng.lognormal(np.log(4) + 0.7 * deployment + 0.3 * plan, 0.9, n)), 1, 2000)
    seats = seats.astype(np.int64)

    # Customers: index space [0, P) returning pool, [P, P + n) new checkout customers,
    # [P + n, ...) new sales customers.
    state = _previous_order_state(out)
    pool_ids, history = _customer_pool(state, start, rng, n, planted, id_prefix, checkouts_per_day * days)
    if not history_days:  # no orders before the range: both sources start on its first day
        history = None
    P = len(pool_ids)
    u = rng.random(n)
    returning = u < planted.returning_customer_share
    repeat = ~returning & (u < planted.returning_customer_share + planted.repeat_checkout_share)
    cust = P + np.arange(n)
    cust[returning] = rng.integers(0, P, int(returning.sum()))
    source = np.arange(n) - rng.geometric(1.0 / (2 * max(checkouts_per_day, 1) + 1), n)
    repeat &= source >= 0
    for _ in range(8):  # resolve chains of repeats (each step points strictly backwards)
        cust[repeat] = cust[source[repeat]]
    is_returning = cust < P

    # ---- funnel ---------------------------------------------------------------------------
    p = np.tile(np.array(planted.step_continue, dtype=float), (n, 1))
    factors = np.array([1.0, planted.mobile_payment_factor, planted.tablet_payment_factor])
    norm = float((np.array([0.72, 0.23, 0.05]) * factors).sum())
    p[:, 2] = np.minimum(1.0, p[:, 2] * factors[device] / norm)
    cont = rng.random((n, 4)) < p
    reached = 1 + np.cumprod(cont, axis=1).sum(axis=1)
    order_rate = np.full(n, planted.order_rate)
    if segment_change is not None:
        codes = {"plan": plan, "deployment": deployment, "device": device, "country": country,
                 "customer": is_returning.astype(np.int64)}
        order_rate[segment_change.applies(t1, codes)] = segment_change.value
    ordered = (reached == 5) & (rng.random(n) < order_rate)

    medians = np.array([75.0, 110.0, 140.0, 50.0])
    gaps = np.clip(np.exp(np.log(medians) + 0.9 * rng.standard_normal((n, 4))), 20, 4 * HOUR)
    before = rng.random(n) < planted.order_before_submit_share
    order_gap = np.where(before, -rng.integers(1, 11, n), rng.integers(2, 91, n))
    gaps = np.column_stack([np.rint(gaps).astype(np.int64), order_gap])
    late = np.nonzero(rng.random(n) < planted.late_share)[0]
    delay = np.where(rng.random(len(late)) < 0.75, rng.exponential(4 * DAY, len(late)) + HOUR,
                     rng.uniform(25 * DAY, MAX_LATE_DELAY, len(late)))
    gaps[late, rng.integers(0, 5, len(late))] += np.minimum(delay, MAX_LATE_DELAY).astype(np.int64)
    T = t1[:, None] + np.column_stack([np.zeros(n, np.int64), np.cumsum(gaps, axis=1)])  # t1..t5, order

    ev_ck, ev_name, ev_t = [], [], []
    for k in range(5):
        idx = np.nonzero(reached > k)[0]
        ev_ck.append(idx), ev_name.append(np.full(len(idx), k)), ev_t.append(T[idx, k])
    # payment failures that end the checkout (one or two attempts)
    drop = np.nonzero((reached == 4) & (rng.random(n) < planted.payment_failure_share))[0]
    first_fail = T[drop, 3] + rng.integers(15, 400, len(drop))
    again = rng.random(len(drop)) < 0.3
    ev_ck += [drop, drop[again]]
    ev_name += [np.full(len(drop) + int(again.sum()), PAYMENT_FAILED)]
    ev_t += [first_fail, first_fail[again] + rng.integers(30, 600, int(again.sum()))]
    # failures followed by a new payment method and the submission
    retry = np.nonzero((reached == 5) & (rng.random(n) < planted.payment_retry_rate))[0]
    span = T[retry, 4] - T[retry, 3]
    ev_ck += [retry, retry]
    ev_name += [np.full(len(retry), PAYMENT_FAILED), np.full(len(retry), 3)]
    ev_t += [T[retry, 3] + (span * 3) // 10, T[retry, 3] + (span * 6) // 10]
    # a step done twice (back button, double click)
    rep = np.nonzero((reached >= 2) & (rng.random(n) < planted.repeat_step_rate))[0]
    k = 1 + np.floor(rng.random(len(rep)) * (reached[rep] - 1)).astype(np.int64)
    last = k == reached[rep] - 1
    nxt = T[rep, np.minimum(k + 1, 4)]
    ev_ck.append(rep), ev_name.append(k)
    ev_t.append(np.where(last, T[rep, k] + rng.integers(10, 120, len(rep)), T[rep, k] + (nxt - T[rep, k]) // 2))

    ev_ck, ev_name, ev_t = (np.concatenate(a).astype(np.int64) for a in (ev_ck, ev_name, ev_t))
    keep = ev_t < end  # what has not happened yet is not in the data
    ev_ck, ev_name, ev_t = ev_ck[keep], ev_name[keep], ev_t[keep]
    order = np.lexsort((ev_name, ev_ck, ev_t))
    ev_ck, ev_name, ev_t = ev_ck[order], ev_name[order], ev_t[order]
    m = len(ev_ck)

    summary.checkouts = n
    # Sequence reach as planted, counting only what happened before the end of the range.
    steps_seen = [int(((reached > k) & (T[:, k] < end)).sum()) for k in range(5)]
    summary.checkouts_reaching_step = steps_seen + [int((ordered & (T[:, 5] < end)).sum())]

    ck_ids = _ids(f"{id_prefix}ck-", np.arange(1, n + 1), 8)
    # ---- orders ---------------------------------------------------------------------------
    orders = _build_orders(rng, planted, n, T, t1, ordered, reached, is_returning, cust, plan, deployment,
                           seats, country, P, start, end, days, weekday, wd, checkouts_per_day, history,
                           history_days)
    n_new_customers = n + orders.pop("n_new_customers")
    cust_ids = pa.concat_arrays([pool_ids, _ids(f"{id_prefix}cu-", np.arange(1, n_new_customers + 1), 8)])

    # ---- events: columns, duplicates, files ------------------------------------------------
    started = ev_name == 0
    src = ev_ck
    ev_file = (ev_t - start) // (DAY * days_per_file)
    dup, dup_file = _ordered_duplicates(rng, m, planted.duplicate_event_rate, ev_file, n_files)
    rows = np.concatenate([np.arange(m), dup])
    row_file = np.concatenate([ev_file, dup_file])
    row_order = np.lexsort((np.arange(len(rows)), ev_t[rows], row_file))
    rows, row_file = rows[row_order], row_file[row_order]
    summary.events, summary.duplicate_events = len(rows), len(dup)

    style = rng.choice(4, m, p=STYLE_MIX)
    email = started & (rng.random(m) < planted.email_share)
    has_device = started & (rng.random(m) < 0.98)
    has_country = started & (rng.random(m) < 0.97)
    app = np.minimum(((ev_t - start) * len(APP_VERSIONS)) // max(end - start, 1)
                     + (rng.random(m) < 0.2), len(APP_VERSIONS) - 1)
    has_app = rng.random(m) < 0.4
    seats_float = rng.random(m) < 0.02
    explicit_null = rng.random(m) < 0.05
    err = rng.choice(len(ERROR_CODES), m, p=ERROR_CODE_MIX)
    is_fail = ev_name == PAYMENT_FAILED

    event_ids = _ids(f"{id_prefix}ev-", np.arange(1, m + 1), 9)
    ev_customer = pc.take(cust_ids, pa.array(cust[src]))
    columns = {
        "event_id": event_ids,
        "event_name": _pick(EVENT_NAMES, ev_name),
        "checkout_id": pc.take(ck_ids, pa.array(src)),
        "customer_id": ev_customer,
        "plan": _pick(PLANS, plan[src], started),
        "deployment": _pick(DEPLOYMENTS, deployment[src], started),
        "seats": pc.if_else(pa.array(started), pa.array(seats[src]), pa.nulls(m, pa.int64())),
        "country": _pick(COUNTRIES, country[src], has_country),
        "device": _pick(DEVICES, device[src], has_device),
        "error_code": _pick(ERROR_CODES, err, is_fail),
        "customer_email": pc.if_else(
            pa.array(email), pc.binary_join_element_wise("user.", ev_customer, "@example.com", ""),
            pa.nulls(m, pa.string())),
        "app_version": _pick(APP_VERSIONS, app, has_app),
    }
    seats_json = pc.cast(columns["seats"], pa.string())
    seats_json = pc.if_else(pa.array(seats_float), pc.binary_join_element_wise(seats_json, ".0", ""), seats_json)
    lines = _json_lines(
        [("event_id", _quoted(columns["event_id"])), ("event_name", _quoted(columns["event_name"])),
         ("event_time", _quoted(_iso(ev_t, style))), ("checkout_id", _quoted(columns["checkout_id"])),
         ("customer_id", _quoted(columns["customer_id"]))]
        + [(c, _quoted(columns[c])) for c in ("plan", "deployment")]
        + [("seats", seats_json)]
        + [(c, _quoted(columns[c])) for c in ("country", "device", "error_code", "customer_email",
                                                "app_version")],
        explicit_null,
    )
    # 64-bit offsets: 10M lines with longer (prefixed) ids pass 2 GiB, a string array's limit.
    lines = pc.take(lines.cast(pa.large_string()), pa.array(rows))
    session = _ids("s-", (ev_ck * 7919) % 1_000_003, 7)
    parquet_events = pa.table({
        "event_id": columns["event_id"], "event_name": columns["event_name"], "event_time": _timestamps(ev_t, True),
        **{c: columns[c] for c in ("checkout_id", "customer_id", "plan", "deployment", "seats", "country",
                                   "device", "error_code", "customer_email")},
        "session_id": session,
    }).take(pa.array(rows))

    files: list[str] = []
    bounds = np.searchsorted(row_file, np.arange(n_files + 1))
    for f in range(n_files):
        lo, hi = int(bounds[f]), int(bounds[f + 1])
        if lo == hi:
            continue
        fmt = _event_format(formats, f)
        name = f"checkout_events/events-{(start_date + timedelta(days=f * days_per_file)):%Y%m%d}-r{run:02d}.{fmt}"
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            chunk = parquet_events.slice(lo, hi - lo)
            if f % 2:  # every other Parquet file has naive (UTC) timestamps
                chunk = chunk.set_column(2, "event_time", chunk.column("event_time").cast(pa.timestamp("us")))
            pq.write_table(chunk, path)
        else:
            data = _joined_bytes(lines.slice(lo, hi - lo))
            if f % 7 == 3:
                data += b"\n"  # a trailing blank line: skipped, not counted
            if fmt == "jsonl.gz":
                data = gzip.compress(data, compresslevel=5, mtime=0)
            path.write_bytes(data)
        files.append(name)

    # ---- orders: versions, late changes, files ---------------------------------------------
    versions, n_orders = _order_versions(rng, orders, start, end, id_prefix, cust_ids, ck_ids)
    late_rows = _late_status_changes(rng, state, planted, start, end, days)
    summary.orders = n_orders
    summary.late_status_changes = late_rows.num_rows
    versions = pa.concat_tables([versions, late_rows]) if late_rows.num_rows else versions
    _write_state(out, run, versions)
    files += _write_orders(out, rng, versions, planted, formats, start, start_date, days_per_file, n_files, run,
                           summary)

    summary.files = files
    summary.seconds = (datetime.now(UTC) - started_clock).total_seconds()
    record = summary.to_json()
    record["previous_runs"] = previous
    (out / "_generation.json").write_text(json.dumps(record, indent=2) + "\n")
    return summary


def _event_format(formats: str, f: int) -> str:
    if formats == "mixed":
        return ("jsonl", "jsonl.gz", "parquet")[f % 3]
    return formats


def _customer_pool(state, start, rng, n, planted, id_prefix, expected_checkouts):
    """Customers who already have placed orders: from earlier calls, else a generated history."""
    if state is not None:
        placed = pc.and_(pc.is_in(state.column("status"), pa.array(["completed", "refunded"])),
                         pc.less(state.column("created_at"), start))
        ids = pc.unique(state.filter(placed).column("customer_id"))
        if len(ids) > 0:
            return ids.cast(pa.string()), None
    # About 0.6 returning checkouts per pool customer, plus the offline orders' existing customers.
    size = max(20, int(0.7 * expected_checkouts * planted.returning_customer_share
                       + 0.3 * expected_checkouts * (planted.sales_orders_per_checkout
                                                     + planted.reseller_orders_per_checkout)))
    return _ids(f"{id_prefix}cu-h", np.arange(1, size + 1), 7), size


def _choice(rng, k: int, p, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return rng.choice(k, size, p=p / p.sum())


def _amount_cents(rng, order_type, plan, seats, discount, currency) -> np.ndarray:
    size = len(order_type)
    price = PRICE_CENTS[plan].astype(float)
    prorate = rng.uniform(0.05, 1.0, size)
    added = np.maximum(1, np.rint(seats * rng.uniform(0.1, 0.5, size)))
    amount = np.select(
        [order_type == 2, order_type == 3],
        [added * price * prorate, seats * (PRICE_CENTS[1] - PRICE_CENTS[0]) * prorate],
        seats * price,
    ) * (1 - discount) * FX[currency]
    amount[rng.random(size) < 0.002] = 0  # fully discounted
    return np.rint(amount).astype(np.int64)


def _build_orders(rng, planted, n, T, t1, ordered, reached, is_returning, cust, plan, deployment, seats,
                  country, P, start, end, days, weekday, wd, checkouts_per_day, history, history_days):
    """Order specs (one row per order, final status) as numpy columns."""
    parts = []

    def add(**cols):
        parts.append(cols)

    eur = np.isin(np.array(COUNTRIES), EURO_COUNTRIES)
    ccy_by_country = np.where(eur, 1, np.where(np.array(COUNTRIES) == "GB", 2, 0))

    # self-service orders of converted checkouts
    web = np.nonzero(ordered)[0]
    w = len(web)
    otype = np.where(is_returning[web], _choice(rng, 4, [0.2, 0.1, 0.45, 0.25], w), 0)
    wplan = np.where(otype == 3, 1, plan[web])
    ccy = np.where(rng.random(w) < 0.1, 0, ccy_by_country[country[web]])
    status = _choice(rng, 4, planted.web_status_mix, w)
    web_cols = {
        "cust": cust[web], "ck": web, "created": T[web, 5], "channel": np.zeros(w, np.int64), "otype": otype,
        "status": status,
        "plan": wplan, "deployment": deployment[web], "seats": seats[web],
        "amount": _amount_cents(rng, otype, wplan, seats[web], np.zeros(w), ccy), "currency": ccy,
        "mi": rng.random(w) < planted.manual_intervention_rate,
        "reason": _choice(rng, 6, [0.35, 0.2, 0.15, 0.2, 0.0, 0.1], w), "history": np.zeros(w, bool),
    }
    add(**web_cols)
    # a failed self-service order followed by a second one for the same checkout
    again = np.nonzero((status == FAILED) & (rng.random(w) < planted.failed_order_retry_rate))[0]
    a = len(again)
    add(**{**{k: v[again] for k, v in web_cols.items()},
           "created": web_cols["created"][again] + rng.integers(60, 1800, a),
           "status": _choice(rng, 4, [0.97, 0.03, 0, 0], a),
           "mi": rng.random(a) < planted.manual_intervention_rate})

    # abandoned checkouts bought later through sales
    abandoned = np.nonzero(~ordered & (reached >= 2) & ~is_returning
                           & (rng.random(n) < planted.sales_rescue_rate))[0]
    r = len(abandoned)
    rseats = np.maximum(seats[abandoned], np.rint(seats[abandoned] * rng.uniform(1, 3, r))).astype(np.int64)
    rccy = ccy_by_country[country[abandoned]]
    add(cust=cust[abandoned], ck=np.full(r, -1), created=t1[abandoned] + rng.integers(DAY, 20 * DAY, r),
        channel=np.ones(r, np.int64), otype=np.zeros(r, np.int64),
        status=_choice(rng, 4, planted.offline_status_mix, r), plan=plan[abandoned],
        deployment=deployment[abandoned], seats=rseats,
        amount=_amount_cents(rng, np.zeros(r, np.int64), plan[abandoned], rseats, rng.uniform(0, 0.2, r), rccy),
        currency=rccy, mi=rng.random(r) < planted.sales_manual_intervention_rate,
        reason=_choice(rng, 6, [0.05, 0.15, 0.2, 0.05, 0.5, 0.05], r), history=np.zeros(r, bool))

    # sales-assisted and reseller orders, by day
    next_customer = P + n
    for channel, rate, mi_rate, reasons, discount in (
        (1, planted.sales_orders_per_checkout, planted.sales_manual_intervention_rate,
         [0.05, 0.15, 0.2, 0.05, 0.5, 0.05], (0.0, 0.25)),
        (2, planted.reseller_orders_per_checkout, planted.reseller_manual_intervention_rate,
         [0.1, 0.1, 0.55, 0.1, 0.1, 0.05], (0.1, 0.3)),
    ):
        per_day = rng.poisson(checkouts_per_day * rate * wd[weekday])
        k = int(per_day.sum())
        day = np.repeat(np.arange(days), per_day)
        existing = rng.random(k) < 0.55
        ocust = np.where(existing, rng.integers(0, P, k), next_customer + np.arange(k))
        next_customer += k
        otype = np.where(existing, _choice(rng, 4, [0, 0.5, 0.3, 0.2], k), 0)
        oplan = np.where(otype == 3, 1, (rng.random(k) < 0.45).astype(np.int64))
        oseats = np.clip(np.rint(rng.lognormal(np.log(40), 1.0, k)), 1, 20_000).astype(np.int64)
        occy = _choice(rng, 3, [0.7, 0.2, 0.1], k)
        add(cust=ocust, ck=np.full(k, -1), created=start + day * DAY + rng.integers(6 * HOUR, 20 * HOUR, k),
            channel=np.full(k, channel), otype=otype, status=_choice(rng, 4, planted.offline_status_mix, k),
            plan=oplan, deployment=(rng.random(k) < 0.45).astype(np.int64), seats=oseats,
            amount=_amount_cents(rng, otype, oplan, oseats, rng.uniform(*discount, k), occy), currency=occy,
            mi=rng.random(k) < mi_rate, reason=_choice(rng, 6, reasons, k), history=np.zeros(k, bool))

    # history: placed orders of the returning customers before the range (first call only)
    if history is not None:
        h = history + int((rng.random(history) < 0.3).sum())
        hcust = np.concatenate([np.arange(history), rng.integers(0, history, h - history)])
        created = start - rng.integers(HOUR, history_days * DAY, h)
        channel = _choice(rng, 3, [0.55, 0.3, 0.15], h)
        hplan = (rng.random(h) < 0.3).astype(np.int64)
        hseats = np.clip(np.rint(rng.lognormal(np.log(8), 1.1, h)), 1, 5000).astype(np.int64)
        hccy = _choice(rng, 3, [0.7, 0.2, 0.1], h)
        mi_rate = np.array([planted.manual_intervention_rate, planted.sales_manual_intervention_rate,
                            planted.reseller_manual_intervention_rate])[channel]
        add(cust=hcust, ck=np.where(channel == 0, -2, -1), created=created, channel=channel,
            otype=np.zeros(h, np.int64), status=np.where(rng.random(h) < 0.04, REFUNDED, COMPLETED),
            plan=hplan, deployment=(rng.random(h) < 0.35).astype(np.int64), seats=hseats,
            amount=_amount_cents(rng, np.zeros(h, np.int64), hplan, hseats, np.zeros(h), hccy), currency=hccy,
            mi=rng.random(h) < mi_rate, reason=_choice(rng, 6, [0.3, 0.15, 0.2, 0.15, 0.1, 0.1], h),
            history=np.ones(h, bool))

    cols = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    cols["n_new_customers"] = next_customer - P - n
    return cols


def _order_versions(rng, o, start, end, id_prefix, cust_ids, ck_ids):
    """Every version row of the orders, as a typed table (timestamps as epoch seconds)."""
    keep = o["created"] < end
    o = {k: v[keep] for k, v in o.items()}
    order = np.argsort(o["created"], kind="stable")
    o = {k: v[order] for k, v in o.items()}
    k = len(order)
    order_ids = _ids(f"{id_prefix}or-", np.arange(1, k + 1), 8)
    hist_ck = _ids(f"{id_prefix}ck-h", np.arange(1, k + 1), 7)
    own = pc.take(ck_ids, pa.array(np.maximum(o["ck"], 0), pa.int64(), mask=o["ck"] < 0))  # null: no checkout
    ck = pc.if_else(pa.array(o["ck"] == -2), hist_ck, own)

    final = o["status"]
    # refunded/cancelled orders were completed first (30% of cancellations happen at once)
    two = (final == REFUNDED) | ((final == CANCELLED) & (rng.random(k) < 0.7))
    change_at = o["created"] + np.where(final == REFUNDED, rng.exponential(5 * DAY, k) + HOUR,
                                        rng.exponential(2 * DAY, k) + 600).astype(np.int64)
    # history orders are settled before the range starts
    change_at = np.where(o["history"], np.minimum(change_at, start - 1), change_at)
    two &= change_at < end  # a change that has not happened yet is not in the data
    first_status = np.where(two, COMPLETED, final)
    idx = np.concatenate([np.arange(k), np.nonzero(two)[0]])
    status = np.concatenate([first_status, final[two]])
    updated = np.concatenate([o["created"], change_at[two]])
    history_row = np.concatenate([o["history"], o["history"][two]])
    cust = pc.take(cust_ids, pa.array(o["cust"]))
    table = pa.table({
        "order_id": order_ids.take(pa.array(idx)),
        "customer_id": cust.take(pa.array(idx)),
        "checkout_id": ck.take(pa.array(idx)),
        "created_at": pa.array(o["created"][idx]),
        "updated_at": pa.array(updated),
        "channel": _pick(CHANNELS, o["channel"][idx]),
        "order_type": _pick(ORDER_TYPES, o["otype"][idx]),
        "status": _pick(STATUSES, status),
        "plan": _pick(PLANS, o["plan"][idx]),
        "deployment": _pick(DEPLOYMENTS, o["deployment"][idx]),
        "seats": pa.array(o["seats"][idx], pa.int32()),
        "amount_cents": pa.array(o["amount"][idx]),
        "currency": _pick(CURRENCIES, o["currency"][idx]),
        "manual_intervention": pa.array(o["mi"][idx]),
        "intervention_reason": _pick(INTERVENTION_REASONS, o["reason"][idx], o["mi"][idx]),
        "history": pa.array(history_row),
    })
    return table, k


def _late_status_changes(rng, state, planted, start, end, days) -> pa.Table:
    """Refunded/cancelled versions, dated in this call's range, of earlier calls' completed orders."""
    if state is None:
        return pa.table({})
    p = 1 - (1 - planted.late_status_change_rate_per_day) ** days
    eligible = pc.and_(pc.equal(state.column("status"), "completed"), pc.less(state.column("created_at"), start))
    cand = state.filter(eligible)
    cand = cand.filter(pa.array(rng.random(cand.num_rows) < p))
    c = cand.num_rows
    updated = np.maximum(cand.column("updated_at").to_numpy() + HOUR, start + rng.integers(0, end - start, c))
    status = np.where(rng.random(c) < 0.7, REFUNDED, CANCELLED)
    keep = updated < end
    cand = cand.filter(pa.array(keep))
    cand = cand.set_column(cand.schema.get_field_index("updated_at"), "updated_at", pa.array(updated[keep]))
    cand = cand.set_column(cand.schema.get_field_index("status"), "status", _pick(STATUSES, status[keep]))
    return cand.set_column(cand.schema.get_field_index("history"), "history", pa.array(np.zeros(cand.num_rows, bool)))


def _write_state(out: Path, run: int, versions: pa.Table) -> None:
    """Latest version of every order this call wrote, for later calls (not read by the pipeline)."""
    (out / STATE_DIR).mkdir(exist_ok=True)
    latest = versions.sort_by([("order_id", "ascending"), ("updated_at", "descending")])
    codes = pc.dictionary_encode(latest.column("order_id")).combine_chunks().indices.to_numpy()
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    pq.write_table(latest.filter(pa.array(first)), out / STATE_DIR / f"orders-r{run:02d}.parquet")


def _write_orders(out, rng, versions, planted, formats, start, start_date, days_per_file, n_files, run, summary):
    v = versions.num_rows
    history = versions.column("history").to_numpy(zero_copy_only=False)
    updated = versions.column("updated_at").to_numpy()
    created = versions.column("created_at").to_numpy()
    file_idx = np.where(history, -1, (updated - start) // (DAY * days_per_file))
    dup, dup_file = _ordered_duplicates(rng, v, planted.duplicate_order_rate, file_idx, n_files)
    dup_file = np.where(file_idx[dup] < 0, -1, dup_file)
    rows = np.concatenate([np.arange(v), dup])
    row_file = np.concatenate([file_idx, dup_file])
    row_order = np.lexsort((np.arange(len(rows)), updated[rows], row_file))
    rows, row_file = rows[row_order], row_file[row_order]
    summary.order_rows, summary.duplicate_order_rows = len(rows), len(dup)

    # per version: how it is written (kept by its repeated deliveries)
    style = rng.choice(4, v, p=STYLE_MIX)
    same = updated == created
    empty_updated = same & (rng.random(v) < 0.4)
    lower_ccy = rng.random(v) < 0.05
    mi = versions.column("manual_intervention").to_numpy(zero_copy_only=False)
    bool_style = rng.integers(0, 4, v)
    cents = versions.column("amount_cents").to_numpy()
    amount = pc.binary_join_element_wise(
        pc.cast(pa.array(cents // 100), pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0"), ".")
    currency = pc.if_else(pa.array(lower_ccy), pc.utf8_lower(versions.column("currency")), versions.column("currency"))
    note = rng.integers(0, len(SALES_NOTES), v)
    has_note = pc.and_(pc.not_equal(versions.column("channel"), "web_direct"), pa.array(rng.random(v) < 0.2))
    notes = pc.replace_substring(_pick(SALES_NOTES, note), "{n}", "1042")
    base = {c: versions.column(c) for c in ("order_id", "customer_id", "checkout_id")}
    tail = {c: versions.column(c) for c in ("channel", "order_type", "status", "plan", "deployment")}
    csv_table = pa.table({
        **base,
        "created_at": _iso(created, style),
        "updated_at": pc.if_else(pa.array(empty_updated), pa.nulls(v, pa.string()), _iso(updated, style)),
        **tail,
        "seats": pc.cast(versions.column("seats"), pa.string()),
        "amount": amount,
        "currency": currency,
        "manual_intervention": pc.take(pa.array(CSV_BOOLEANS[0] + CSV_BOOLEANS[1]),
                                       pa.array(np.where(mi, 0, 4) + bool_style)),
        "intervention_reason": versions.column("intervention_reason"),
        "sales_note": pc.if_else(has_note, notes, pa.nulls(v, pa.string())),
    }).take(pa.array(rows))
    parquet_table = pa.table({
        **base,
        "created_at": _timestamps(created, True),
        "updated_at": pc.if_else(pa.array(empty_updated & (rng.random(v) < 0.5)),
                                 pa.nulls(v, pa.timestamp("us", tz="UTC")), _timestamps(updated, True)),
        **tail,
        "seats": versions.column("seats"),
        "amount": pc.cast(amount, pa.decimal128(18, 2)),
        "currency": currency,
        "manual_intervention": versions.column("manual_intervention"),
        "intervention_reason": versions.column("intervention_reason"),
        "source_system": pa.array(np.full(v, "billing")),
    }).take(pa.array(rows))

    files = []
    bounds = np.searchsorted(row_file, np.arange(-1, n_files + 1))
    for f in range(-1, n_files):
        lo, hi = int(bounds[f + 1]), int(bounds[f + 2])
        if lo == hi:
            continue
        if formats == "parquet" or (formats == "mixed" and f % 2 == 1):
            fmt = "parquet"
        else:
            fmt = "csv"
        if f < 0:
            name = f"orders/orders-{(start_date - timedelta(days=1)):%Y%m%d}-r{run:02d}-history.{fmt}"
        else:
            name = f"orders/orders-{(start_date + timedelta(days=f * days_per_file)):%Y%m%d}-r{run:02d}.{fmt}"
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            chunk = parquet_table.slice(lo, hi - lo)
            if f % 4 == 3:  # some Parquet files carry naive (UTC) timestamps
                for col in ("created_at", "updated_at"):
                    i = chunk.schema.get_field_index(col)
                    chunk = chunk.set_column(i, col, chunk.column(col).cast(pa.timestamp("us")))
            pq.write_table(chunk, path)
        else:
            path.write_bytes(_csv_bytes(csv_table.slice(lo, hi - lo)))
        files.append(name)
    return files
