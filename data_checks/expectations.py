"""`UnexpectedRowsQueriedOnce`: GX's `UnexpectedRowsExpectation` with its query executed once.

GX 1.x's `UnexpectedRowsExpectation` resolves two metrics from the same query: the rows
(`unexpected_rows_query.table`, the first 200) and their count (`unexpected_rows_query.row_count`,
`SELECT COUNT(*) FROM (query)`). DuckDB computes the query in full both times, so every check whose
query aggregates a whole table (key uniqueness, first order per customer, ...) paid its scan twice:
measured on the 10M warehouse, `fct_checkouts` uniqueness 2 x 0.55 s, raw event_id uniqueness 2 x 2.5 s.

This subclass depends on the rows only. Fewer than 200 rows (the clean case is 0) is the whole
answer, so the count is their number; at 200 rows the result may be cut, and only then is the GX
count metric resolved (a second execution, on the failure path only). Success, observed value,
evidence rows and Data Docs rendering are those of the parent expectation.
"""

from __future__ import annotations

from typing import ClassVar

import great_expectations.expectations as gxe
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.expectations.registry import get_metric_kwargs
from great_expectations.validator.metric_configuration import MetricConfiguration

ROWS_METRIC = "unexpected_rows_query.table"
COUNT_METRIC = "unexpected_rows_query.row_count"


class UnexpectedRowsQueriedOnce(gxe.UnexpectedRowsExpectation):
    """Fails when the query returns rows, like `UnexpectedRowsExpectation`; the query runs once."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (ROWS_METRIC,)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None):
        rows = metrics[ROWS_METRIC]
        count = len(rows)
        if count >= MAX_RESULT_RECORDS and execution_engine is not None:
            kwargs = get_metric_kwargs(
                metric_name=COUNT_METRIC, configuration=self.configuration, runtime_configuration=runtime_configuration
            )
            metric = MetricConfiguration(
                metric_name=COUNT_METRIC,
                metric_domain_kwargs=kwargs["metric_domain_kwargs"],
                metric_value_kwargs=kwargs["metric_value_kwargs"],
            )
            count = execution_engine.resolve_metrics([metric])[metric.id]
        return super()._validate(
            {ROWS_METRIC: rows, COUNT_METRIC: count},
            runtime_configuration=runtime_configuration,
            execution_engine=execution_engine,
        )
