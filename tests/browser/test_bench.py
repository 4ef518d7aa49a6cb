"""benchmarks/bench_browser.py end to end, on the tiny model: its table, and the figures --json writes.

    python -m pytest tests/browser/test_bench.py -q
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser_helpers import web_with_metadata

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def test_bench_browser_prints_its_table_and_writes_the_same_figures_as_json(tiny_root, tmp_path):
    out = tmp_path / "bench.json"
    # --compare: the tiny model again, under another name (so another version), as a previous release.
    other = web_with_metadata(tiny_root, tmp_path / "other",
                              lambda metadata: {**metadata, "model": {**metadata["model"], "name": "compared"}})
    done = subprocess.run([sys.executable, "benchmarks/bench_browser.py", "--web", str(tiny_root),
                           "--backends", "wasm", "--runs", "3", "--warmup", "1", "--batch", "5", "--batch-rounds", "1",
                           "--json", str(out), "--compare", str(other / "model")],
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
    # The warm inference worker (pool.js), ready after the page's self-test: on any machine of 2 cores or more.
    if os.cpu_count() >= 2:
        assert figures["worker_ms"] > 0 and figures["cold_worker_ms"] > 0
        line = re.search(r"^The page's warm inference worker .*: (\d+) ms cold, (\d+) ms warm$", done.stdout, re.M)
        assert line and [float(v) for v in line.groups()] == pytest.approx(
            [figures["cold_worker_ms"], figures["worker_ms"]], abs=0.6), done.stdout
    python = re.search(r"^Python TensorFlow \(same graph\)\s+([\d.]+) ms", done.stdout, re.M)
    assert python and float(python.group(1)) == pytest.approx(figures["python_ms"], abs=0.06)
    # The batch: the page's threads (2 on any machine of 2 cores or more) against one, per photo.
    batch = figures["batch"]
    assert batch["photos"] == 5 and batch["threads"] >= 1
    assert all(batch[key] > 0 for key in ("first_ms", "ms", "one_thread_first_ms", "one_thread_ms", "python_ms"))
    line = re.search(r"^page as a user gets it, (\d+) threads?\s+([\d.]+) ms", done.stdout, re.M)
    assert line and [float(v) for v in line.groups()] == pytest.approx([batch["threads"], batch["ms"]], abs=0.06)
    # --compare: the other folder timed in the page (which loaded its version) and in Python, in the JSON
    # and in a table of its own.
    compare, versus = figures["compare"], figures["versus_compare"]
    version = json.loads((other / "model" / "metadata.json").read_text())["model"]["version"]
    assert compare["dir"] == str(other / "model") and compare["model"] == version != figures["model"]
    assert compare["error"] is None and all(compare[key] > 0 for key in ("python_ms", "browser_ms", "ready_ms"))
    assert compare["ratio"] == pytest.approx(compare["browser_ms"] / compare["python_ms"], rel=1e-2)
    assert versus["browser_ms"] == pytest.approx(figures["browser_ms"] / compare["browser_ms"], rel=1e-2)
    assert versus["python_ms"] == pytest.approx(figures["python_ms"] / compare["python_ms"], rel=1e-2)
    row = re.search(r"^compared \S+\s+(\d+) ms\s+(\d+) ms\s+([\d.]+) ms", done.stdout, re.M)
    assert row and [float(v) for v in row.groups()] == pytest.approx(
        [compare["cold_ready_ms"], compare["ready_ms"], compare["browser_ms"]], abs=0.6), done.stdout
