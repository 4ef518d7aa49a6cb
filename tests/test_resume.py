"""A training run killed during stage 2 resumes from its last finished epoch when rerun."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny_model import tiny_setup

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _epochs(history: Path) -> list[int]:
    with history.open() as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_killed_run_resumes_where_it_stopped(tmp_path):
    data, weights = tiny_setup(tmp_path)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "trainer", "train", "--data", str(data), "--image-size", "96",
               "--alpha", "0.35", "--weights", str(weights), "--head-epochs", "2", "--batch-size", "16",
               "--fine-tune-epochs", "4", "--cut", "block_14_add", "--views", "2", "--tta-views", "2", "--out", str(run)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    history = run / "history_stage2.csv"

    # First attempt: SIGKILL (no chance to clean up) as soon as two stage-2 epochs are backed up.
    first_log = tmp_path / "first.log"
    with first_log.open("w") as out:
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and first.poll() is None:
        if history.exists() and len(_epochs(history)) >= 2 and (run / "backup").exists():
            break
        time.sleep(0.05)
    assert first.poll() is None, "the run finished before it could be killed:\n" + first_log.read_text()
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = _epochs(history)
    features_before = {p.name: p.stat().st_mtime_ns for p in (run / "features").iterdir()}
    assert 2 <= len(done_before) < 4 and not (run / "saved_model").exists()

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    epochs = _epochs(history)
    # The rerun started after the last backed-up epoch, not from zero. One epoch may run twice: train.py's
    # CSVLogger writes an epoch's line before BackupAndRestore (the last callback) has backed it up, so a
    # kill between the two resumes from the epoch before (the README's "after the last finished epoch"
    # means the last backed-up one).
    assert epochs[:len(done_before)] == done_before
    assert sorted(set(epochs)) == [0, 1, 2, 3] and len(epochs) - len(set(epochs)) <= 1
    assert {p.name: p.stat().st_mtime_ns for p in (run / "features").iterdir()} == features_before
    assert (run / "saved_model" / "saved_model.pb").is_file() and not (run / "backup").exists()
