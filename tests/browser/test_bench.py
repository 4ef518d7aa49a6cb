"""benchmarks/bench_browser.py end to end, on the tiny model: its table, and the figures --json writes.

    python -m pytest tests/browser/test_bench.py -q
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def test_bench_browser_prints_its_table_and_writes_the_same_figures_as_json(tiny_root, tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "benchmarks/bench_browser.py", "--web", str(tiny_root),
                           "--backends", "wasm", "--runs", "3", "--warmup", "1", "--batch", "5", "--batch-rounds", "1",
                           "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for key in ("python_ms", "browser_ms", "ready_ms", "cold_ready_ms"):
        assert figures[key] > 0, key
    assert figures["threads"] >= 1 and figures["backend"].startswith("wasm") and figures["error"] is None
    wasm = figures["backends"]["wasm"]
    assert wasm["threads"] >= 1 and wasm["ratio"] == pytest.approx(wasm["per_image_ms"] / figures["python_ms"], rel=1e-2)
    # The table shows the same figures: cold and warm ready, per image, for the page as a user gets it.
    row = re.search(r"^browser, as a user gets it\s+(\d+) ms\s+(\d+) ms\s+([\d.]+) ms", done.stdout, re.M)
    assert row, done.stdout
    assert [float(v) for v in row.groups()] == pytest.approx(
        [figures["cold_ready_ms"], figures["ready_ms"], figures["browser_ms"]], abs=0.6)
    python = re.search(r"^Python TensorFlow \(same graph\)\s+([\d.]+) ms", done.stdout, re.M)
    assert python and float(python.group(1)) == pytest.approx(figures["python_ms"], abs=0.06)
    # The batch: the page's threads (2 on any machine of 2 cores or more) against one, per photo.
    batch = figures["batch"]
    assert batch["photos"] == 5 and batch["threads"] >= 1
    assert all(batch[key] > 0 for key in ("first_ms", "ms", "one_thread_first_ms", "one_thread_ms", "python_ms"))
    line = re.search(r"^page as a user gets it, (\d+) threads?\s+([\d.]+) ms", done.stdout, re.M)
    assert line and [float(v) for v in line.groups()] == pytest.approx([batch["threads"], batch["ms"]], abs=0.06)
