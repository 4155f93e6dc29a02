"""The benchmark's landing data: `funnel generate` per size and format, and one more day beside it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from benchmarks.process import measure, strip_stdout

BIN = Path(sys.executable).parent
FUNNEL = str(BIN / "funnel")
EVENTS_PER_CHECKOUT = 3.6
# The generator holds a call's arrays in memory (a 30M-event call was killed for memory on this 23 GiB
# machine): bigger data sets are written by several calls of at most this many events.
GENERATE_PART_EVENTS = 10_000_000


def size_label(events: int) -> str:
    for unit, name in ((1_000_000, "M"), (1_000, "k")):
        if events >= unit and events % (unit // 10) == 0:
            value = events / unit
            return f"{value:g}{name}"
    return str(events)


def link_landing(source: Path, target: Path) -> None:
    """A copy of a landing directory whose data files are hard links (they are never edited) and
    whose generator state is real copies (the generator rewrites it)."""
    for path in source.rglob("*"):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.parts[len(source.parts)] in ("checkout_events", "orders"):
            os.link(path, dest)
        else:
            shutil.copy2(path, dest)


def day_is_written(previous: Path, landing: Path, prefix: str, day_rates: Sequence[str]) -> bool:
    """Whether `landing` already holds the day after `previous` that `_next_day` would write: its ids
    prefixed `prefix`, and the generator's planted rates those of `previous` with `day_rates`
    (`NAME=VALUE`, as `funnel generate --rate` takes them) applied."""
    from pipelines.cli import planted_rate

    generation = landing / "_generation.json"
    if not generation.exists():
        return False
    written = json.loads(generation.read_text())
    expected = json.loads((previous / "_generation.json").read_text())["rates"]
    expected.update((name, list(v) if isinstance(v, tuple) else v) for name, v in map(planted_rate, day_rates))
    return written.get("id_prefix") == prefix and written.get("rates") == expected


def _next_day(previous: Path, landing: Path, day: date, prefix: str, checkouts_per_day: int, fmt: str,
              skip_generate: bool, day_rates: Sequence[str]) -> dict | None:
    """`landing`: the files of `previous` (hard links) and one more day, `day`, with ids prefixed `prefix`
    and the generator's planted rates changed by `day_rates` (`--day-rate`)."""
    if skip_generate and day_is_written(previous, landing, prefix, day_rates):
        return None
    shutil.rmtree(landing, ignore_errors=True)
    link_landing(previous, landing)
    rates = [arg for rate in day_rates for arg in ("--rate", rate)]
    return strip_stdout(measure([FUNNEL, "generate", "--out", str(landing), "--days", "1", "--checkouts-per-day",
                                 str(checkouts_per_day), "--seed", "1", "--format", fmt, "--end-date",
                                 day.isoformat(), "--id-prefix", prefix, *rates]))


def _covers(generation: Path, days: int, end: date) -> bool:
    """Whether the landing data of `generation` spans `days` days ending on `end` (else it is written again)."""
    last = json.loads(generation.read_text())
    return last.get("days") == days and last.get("end_date") == end.isoformat()


def prepare_data(case_dir: Path, events: int, fmt: str, days: int, end: date, skip_generate: bool,
                 day_rates: Sequence[str] = ()) -> dict:
    """`landing` (days of history ending on `end`), `landing_plus1` (the same + the next day) and
    `landing_plus2` (+ the day after: the second day after a full run is a daily run's steady state);
    the two days with the generator's planted rates changed by `day_rates`."""
    base, plus1, plus2 = case_dir / "landing", case_dir / "landing_plus1", case_dir / "landing_plus2"
    checkouts_per_day = max(1, round(events / days / EVENTS_PER_CHECKOUT))
    info: dict = {"checkouts_per_day": checkouts_per_day, "days": days, "end_date": end.isoformat()}
    generated = base / "_generation.json"
    if not (skip_generate and generated.exists() and _covers(generated, days, end)):
        shutil.rmtree(case_dir, ignore_errors=True)
        case_dir.mkdir(parents=True)
        parts = -(-events // GENERATE_PART_EVENTS)
        info["generate"] = []
        for part in range(parts):
            # The later parts: the same days, their own ids, earlier parts' customers as returning ones.
            prefix = ["--id-prefix", f"p{part}"] if part else []
            result = measure([FUNNEL, "generate", "--out", str(base), "--days", str(days), "--checkouts-per-day",
                              str(round(checkouts_per_day / parts)), "--seed", "1", "--format", fmt,
                              "--end-date", end.isoformat(), *prefix])
            info["generate"].append(strip_stdout(result))
    for n, (previous, landing, prefix) in enumerate(((base, plus1, "b"), (plus1, plus2, "c")), start=1):
        result = _next_day(previous, landing, end + timedelta(days=n), prefix, checkouts_per_day, fmt, skip_generate,
                           day_rates)
        if result:
            info[f"generate_plus{n}"] = result
            skip_generate = False  # the days after it are written again on top of it
    generation = json.loads((base / "_generation.json").read_text())
    calls = [*generation.get("previous_runs", []), generation]
    extra = json.loads((plus1 / "_generation.json").read_text())
    info.update(events=sum(c["events"] for c in calls), order_rows=sum(c["order_rows"] for c in calls),
                files=sum(len(c["files"]) for c in calls), plus1_events=extra["events"], plus1_order_rows=extra["order_rows"],
                day_rates=list(day_rates),
                landing_bytes=sum(p.stat().st_size for p in base.rglob("*") if p.is_file()))
    return info
