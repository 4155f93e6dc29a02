# Every target creates .venv when it is missing and reuses it otherwise.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LANDING ?= data/landing
WAREHOUSE ?= data/warehouse.duckdb

export DAGSTER_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	test -d $(LANDING) || $(BIN)/funnel generate --out $(LANDING) --days 119 --end-date 2026-11-29 --checkouts-per-day 400 --seed 7 --history-days 0 --rate-change order_rate=0.55,device=mobile,since=2026-10-05
	$(BIN)/funnel run --landing $(LANDING) --warehouse $(WAREHOUSE)
	$(BIN)/funnel dashboard --warehouse $(WAREHOUSE) --port 8501

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check pipelines dashboards data_checks tools benchmarks tests

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
