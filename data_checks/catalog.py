"""Every data check, in the order they run: the one list Dagster, `funnel check` and the docs read."""

from __future__ import annotations

from data_checks.check import Check
from data_checks.ledger_checks import CONSERVATION_CHECKS
from data_checks.mart_checks import MART_CHECKS
from data_checks.movement import MOVEMENT_CHECKS
from data_checks.raw_checks import RAW_CHECKS


def all_checks() -> list[Check]:
    """Every check, in the order they run and are reported."""
    return [*RAW_CHECKS, *CONSERVATION_CHECKS, *MART_CHECKS, *MOVEMENT_CHECKS]

