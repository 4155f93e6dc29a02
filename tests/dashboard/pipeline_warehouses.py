"""Published copies built by the real pipeline (`pipelines.run.run_pipeline`) from small landing
directories, for the dashboard's no-data and files-that-need-attention tests.

- `empty`: an empty landing directory (no file yet).
- `rejected_only`: only files rejected whole: a corrupt Parquet file and an orders CSV missing
  required columns.
- `attention`: the conformance kit's landing with bad rows, plus a file the contract ignores in a
  source folder (`orders/notes.json`), one outside the source folders (`README.txt`), an empty file,
  and, in a second run, a loaded file changed after it was loaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.dashboard.conftest import ROOT

DIRTY_LANDING = ROOT / "tests" / "fixtures" / "conformance" / "landing-with-bad-rows"

CORRUPT_PARQUET = "checkout_events/broken.parquet"
MISSING_COLUMNS_CSV = "orders/missing-columns.csv"
IGNORED_JSON = "orders/notes.json"
IGNORED_OUTSIDE = "README.txt"
EMPTY_FILE = "checkout_events/events-7-empty.jsonl"
CHANGED_FILE = "orders/orders-1.csv"


def run(landing: Path, warehouse: Path) -> Path:
    """One `funnel run` of `landing` into `warehouse`; the published copy's path."""
    from pipelines.core.settings import Settings
    from pipelines.run import run_pipeline

    settings = Settings.from_env(landing_dir=landing, warehouse=warehouse)
    run_pipeline(settings)
    return settings.published


def land_rejected_only(landing: Path) -> None:
    (landing / "checkout_events").mkdir(parents=True, exist_ok=True)
    (landing / "orders").mkdir(parents=True, exist_ok=True)
    (landing / CORRUPT_PARQUET).write_bytes(b"PAR1 not a parquet file at all")
    (landing / MISSING_COLUMNS_CSV).write_text("order_id,customer_id,created_at\no1,c1,2026-03-02T10:00:00Z\n")


def build(kind: str, root: Path) -> Path:
    """The published copy of warehouse `kind` (empty, rejected_only, attention) under `root`."""
    landing = root / "landing"
    warehouse = root / "warehouse.duckdb"
    if kind == "empty":
        landing.mkdir(parents=True)
        return run(landing, warehouse)
    if kind == "rejected_only":
        land_rejected_only(landing)
        return run(landing, warehouse)
    if kind == "attention":
        shutil.copytree(DIRTY_LANDING, landing)
        (landing / IGNORED_JSON).write_text('{"note": "not a contract file"}\n')
        (landing / IGNORED_OUTSIDE).write_text("landing notes\n")
        (landing / EMPTY_FILE).write_bytes(b"")
        run(landing, warehouse)
        with (landing / CHANGED_FILE).open("a") as f:  # a correction written into a loaded file
            f.write("o99,c99,k99,2026-03-05T10:00:00Z,,web_direct,new_subscription,completed,premium,saas,"
                    "5,1740.0,USD,false,,\n")
        return run(landing, warehouse)
    raise ValueError(kind)


if __name__ == "__main__":  # python -m tests.dashboard.pipeline_warehouses KIND ROOT: prints the published path
    import sys

    print(build(sys.argv[1], Path(sys.argv[2])))
