"""The benchmark's verdicts against the targets, the machine it ran on, and the printed table."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from benchmarks.process import loadavg

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "full_run_over_floor_max": 2.0,
    "full_run_seconds_max_10M": 90.0,
    "peak_rss_gb_max": 3.0,
    "incremental_over_full_max": 0.20,
    "incremental_10M_over_1M_max": 3.0,
    "incremental_30M_over_10M_max": 1.3,
    "engine_incremental_over_full_max": 0.30,
    "rerun_seconds_max": 10.0,
    "dashboard_p95_ms_max": 100.0,
    "metrics_p50_seconds_max_10M": 2.0,
}


def evaluate(cases: list[dict]) -> list[dict]:
    """Each target against the measured figures: met or missed, and by how much."""
    verdicts = []

    def add(case: str, name: str, value: float, limit: float, unit: str) -> None:
        verdicts.append({"case": case, "target": name, "value": value, "limit": limit, "unit": unit,
                         "met": value <= limit, "miss_factor": value / limit if limit else None})

    def failed(case: str, what: str, error: str) -> None:
        verdicts.append({"case": case, "target": f"{what} FAILED", "value": float("nan"), "limit": 0, "unit": "",
                         "met": False, "miss_factor": float("nan"), "error": error})

    for c in cases:
        for key in ("full_run", "rerun", "incremental"):
            if "error" in c.get(key, {}):
                failed(c["label"], key, c[key]["error"])
        runs = [c[k] for k in ("full_run", "rerun", "incremental") if k in c]
        peak = max(r["peak_rss_mb"] for r in runs) / 1024
        add(c["label"], "full run / floor", c["ratio_full_run_over_floor"], TARGETS["full_run_over_floor_max"], "x")
        if c["size"] == 10_000_000:
            add(c["label"], "full run seconds", c["full_run"]["wall_seconds"], TARGETS["full_run_seconds_max_10M"], "s")
        add(c["label"], "peak RSS of a run (GB)", peak, TARGETS["peak_rss_gb_max"], "GB")
        if "incremental" in c:
            add(c["label"], "incremental / full run", c["ratio_incremental_over_full"],
                TARGETS["incremental_over_full_max"], "x")
        for target, engine in c.get("engines", {}).items():
            if "ratio_incremental_over_full" in engine:
                add(c["label"], f"{target}: one more day / full", engine["ratio_incremental_over_full"],
                    TARGETS["engine_incremental_over_full_max"], "x")
            elif "skipped" not in engine:
                failed(c["label"], target, next(r["error"] for r in engine.values() if "error" in r))
        if "rerun" in c:
            add(c["label"], "re-run seconds", c["rerun"]["wall_seconds"], TARGETS["rerun_seconds_max"], "s")
        if c["size"] >= 10_000_000 and "dashboard" in c:
            worst = max(q["p95_ms"] for q in c["dashboard"]["queries"].values())
            add(c["label"], "dashboard worst query p95 (ms)", worst, TARGETS["dashboard_p95_ms_max"], "ms")
        if c["size"] >= 10_000_000 and "metrics" in c:
            worst = max(q["p50_s"] for q in c["metrics"]["queries"].values())
            add(c["label"], "funnel metrics worst query p50 (s)", worst, TARGETS["metrics_p50_seconds_max_10M"], "s")
    by_key = {(c["size"], c["format"]): c for c in cases}
    for (size, fmt), c in by_key.items():
        small = by_key.get((size // 10, fmt))
        if size >= 10_000_000 and small and "incremental" in c and "incremental" in small:
            add(c["label"], "incremental on 10M / on 1M", c["incremental"]["wall_seconds"] /
                small["incremental"]["wall_seconds"], TARGETS["incremental_10M_over_1M_max"], "x")
        third = by_key.get((size // 3, fmt))  # 30M against 10M: a day's cost must not grow with history
        if size == 30_000_000 and third and "incremental" in c and "incremental" in third:
            add(c["label"], "incremental on 30M / on 10M", c["incremental"]["wall_seconds"] /
                third["incremental"]["wall_seconds"], TARGETS["incremental_30M_over_10M_max"], "x")
    return verdicts


def machine() -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import duckdb

    def git(*cmd: str) -> str:
        try:
            out = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"git_commit": git("rev-parse", "HEAD"),
            # other developers edit the same checkout: the files changed but not committed at the start
            "git_uncommitted": git("status", "--porcelain", "--untracked-files=no").splitlines(),
            "nproc": os.cpu_count(), "cpu": cpu, "mem_total_gb": int(meminfo["MemTotal"].split()[0]) / 2**20,
            "python": platform.python_version(), "duckdb": duckdb.__version__, "platform": platform.platform(),
            "loadavg_at_start": loadavg()}


def print_table(cases: list[dict], verdicts: list[dict]) -> None:
    def row(*cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, (34, 14, 14, 14, 14), strict=False)))

    for c in cases:
        print(f"\n{c['label']}: {c['data']['events']:,} events, {c['data']['order_rows']:,} order rows, "
              f"{c['data']['files']} files; floor marts equal the pipeline's: {c['marts_equal']}")
        row("measurement", "seconds", "peak RSS MB", "load before", "load after")
        items = [("floor (one DuckDB script)", c["floor"]["seconds"], c["floor"])]
        items += [(title, c[key]["wall_seconds"], c[key]) for key, title in
                  (("full_run", "full run from empty"), ("rerun", "re-run, nothing new"),
                   ("incremental", "incremental, +1 day")) if key in c]
        items += [(f"stage: {name}", s.get("seconds", float("nan")), s) for name, s in c.get("stages", {}).items()]
        for name, seconds, r in items:
            row(name, f"{seconds:.2f}", f"{r['peak_rss_mb']:.0f}", r["loadavg_before"][0], r["loadavg_after"][0])
        for run_key in ("full_run", "incremental"):
            steps = c.get(run_key, {}).get("dagster_steps") or {}
            for key, seconds in sorted(steps.items(), key=lambda kv: -kv[1])[:9]:
                row(f"  {run_key}: {key}"[:34], f"{seconds:.2f}", "", "", "")
        for target, engine in c.get("engines", {}).items():
            if "skipped" in engine:
                row(f"{target}: skipped ({engine['skipped']})"[:34], "", "", "", "")
            for key, title in (("full_run", "full run"), ("incremental", "one more day")):
                if key in engine:
                    r = engine[key]
                    row(f"{target}: {title}", f"{r['wall_seconds']:.2f}", f"{r['peak_rss_mb']:.0f}",
                        r["loadavg_before"][0], r["loadavg_after"][0])
        if len(c.get("incremental_repeats", [])) > 1:
            print("incremental, +1 day: the median of " + " / ".join(f"{s:.2f}" for s in c["incremental_repeats"]) + " s")
        if "day_split" in c:
            print("where one more day's seconds went (the median run):")
        for name, seconds in c.get("day_split", {}).items():
            print(f"  {name:<62} {seconds:8.2f}")
        if "day_reach" in c:
            r = c["day_reach"]
            print(f"the day's orders: {r['order_versions']:,} versions, {r['changes_of_earlier_orders']:,} change earlier "
                  f"orders, created on {r['order_days_touched']:,} of {r['order_days']:,} days (age median "
                  f"{r['age_days_median']}, p90 {r['age_days_p90']}, oldest {r['age_days_oldest']} days); their "
                  f"checkouts' cohort days: {r['cohort_days_touched']:,} of {r['cohort_days']:,}")
        if "disk" in c:
            d = c["disk"]
            print(f"on disk: warehouse {d['warehouse_mb_per_million_events']:.0f} MB, published copy "
                  f"{d['published_mb_per_million_events']:.0f} MB per million events; published tables without a "
                  f"reader: {', '.join(d['published_tables_without_reader']) or 'none'}")
        if "writes" in c and "warehouse_seconds" in c["writes"]:
            w = c["writes"]
            print(f"writes: every table copied once took {w['warehouse_seconds']:.1f} s (warehouse) + "
                  f"{w['published_seconds']:.1f} s (published copy), the floor {c['floor']['seconds']:.1f} s in all")
        print(f"full run / floor: {c['ratio_full_run_over_floor']:.2f}x" + (
            f"; incremental / full run: {c['ratio_incremental_over_full']:.1%}" if "incremental" in c else ""))
        row("dashboard query", "p50 ms", "p95 ms", "page", "")
        for name, q in c.get("dashboard", {}).get("queries", {}).items():
            row(f"  {name}", f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}", q["page"], "")
    print("\ntargets:")
    for v in verdicts:
        status = "met" if v["met"] else ("FAILED" if "error" in v else f"MISSED by {v['miss_factor']:.2f}x")
        print(f"  {v['case']:<14} {v['target']:<32} {v['value']:>9.2f} {v['unit']:<3} (limit {v['limit']:g}) {status}")
