"""The brief's fixed cost in a run: what it imports (each run's process pays it once, ~0.5 s for
scipy.stats) and the movement test's p-values, unchanged by it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

from pipelines.core.stats import two_proportion_test

ROOT = Path(__file__).resolve().parents[2]


def test_the_p_values_are_scipy_norms_to_the_bit():
    trials = np.arange(30, 20_000, 7.0)
    successes_a, successes_b = np.floor(trials * 0.31), np.floor(trials * 0.27)
    test = two_proportion_test(successes_a, trials, successes_b, trials[::-1], level=0.99)
    assert np.array_equal(test.p_value, 2 * norm.sf(np.abs(test.z)))
    assert test.significant.any() and not test.significant.all()
    # One pair, as the brief and the movement check call it: a scalar.
    single = two_proportion_test(120, 1000, 80, 1000, level=0.99)
    assert float(single.p_value) == 2 * norm.sf(abs(float(single.z)))
    assert bool(single.significant)


def test_the_brief_does_not_import_scipy_stats(conformance_warehouse, tmp_path):
    # A fresh process, as a run's: the brief of the conformance warehouse with its verdicts, then the
    # modules it loaded.
    code = (
        "import json, sys\nfrom pathlib import Path\n"
        "from pipelines.brief import write_brief\nfrom pipelines.core.settings import Settings\n"
        f"settings = Settings.from_env(Path({str(tmp_path / 'landing')!r}), Path({str(conformance_warehouse.warehouse)!r}))\n"
        f"files = write_brief(settings, out_dir=Path({str(tmp_path)!r}))\n"
        "print(json.dumps({'verdicts': [line.verdict for line in files.brief.lines], 'pdf': files.pdf.stat().st_size,\n"
        "                  'scipy.stats': 'scipy.stats' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert loaded["pdf"] > 1000
    assert len(loaded["verdicts"]) == 7
    assert loaded["scipy.stats"] is False
