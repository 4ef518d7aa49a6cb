"""A training run killed during stage 2 resumes from its last finished epoch when rerun."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


# One xdist process runs all the tests that train (pyproject: --dist loadgroup): two trainings at once on
# 2 cores each took half the machine from the other's, and the suite's time varied from 12 to 15 min.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training")]
ROOT = Path(__file__).resolve().parents[1]


def _epochs(history: Path) -> list[int]:
    with history.open() as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _losses(history: Path) -> list[str]:
    with history.open() as f:
        return [row["loss"] for row in csv.DictReader(f)]


def test_an_epoch_logged_but_not_backed_up_is_dropped_from_the_log(tmp_path):
    """The kill can fall between CSVLogger's line and BackupAndRestore's save: that epoch runs again,
    so its first line must go, or the log (and the README's promise) would show it twice."""
    import h5py

    from trainer.stage2 import _backed_up_epochs, _trim_history

    history = tmp_path / "history_stage2.csv"
    history.write_text("epoch,loss,val_balanced_accuracy\n0,0.9,0.5\n1,0.8,0.6\n2,0.7,0.7\n")
    backup = tmp_path / "backup"
    assert _backed_up_epochs(backup) == 0
    backup.mkdir()
    with h5py.File(backup / "latest.weights.h5", "w") as f:  # a whole checkpoint of two epochs
        f.attrs["epochs"] = 2
    assert _backed_up_epochs(backup) == 2
    _trim_history(history, 2)
    assert history.read_text() == "epoch,loss,val_balanced_accuracy\n0,0.9,0.5\n1,0.8,0.6\n"
    history.write_text(history.read_text() + "1,0.85,0.65\n2,0.7,0.7\n")  # a lost backup ran epoch 1 twice
    _trim_history(history, None)
    assert history.read_text() == "epoch,loss,val_balanced_accuracy\n0,0.9,0.5\n1,0.85,0.65\n2,0.7,0.7\n"


def test_killed_run_resumes_where_it_stopped(tiny_inputs, tmp_path):
    data, weights = tiny_inputs
    run = tmp_path / "run"
    command = [sys.executable, "-m", "trainer", "train", "--data", str(data), "--image-size", "96",
               "--alpha", "0.35", "--weights", str(weights), "--head-epochs", "2", "--batch-size", "16",
               "--fine-tune-epochs", "4", "--cut", "block_14_add", "--views", "2", "--tta-views", "2",
               "--bootstrap", "50", "--out", str(run)]  # the intervals' 1000 resamples would take 30 s: not tested here
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
    done_before, losses_before = _epochs(history), _losses(history)
    features_before = {p.name: p.stat().st_mtime_ns for p in (run / "features").iterdir()}
    assert 2 <= len(done_before) < 4 and not (run / "saved_model").exists()

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    epochs = _epochs(history)
    # The rerun started after the last backed-up epoch, not from zero, and no epoch is logged twice: an
    # epoch whose line was written but whose backup was not (the kill fell between the two) is dropped
    # from the log and run again.
    assert epochs == [0, 1, 2, 3]
    assert _losses(history)[:len(done_before) - 1] == losses_before[:len(done_before) - 1]  # kept, not rerun
    assert {p.name: p.stat().st_mtime_ns for p in (run / "features").iterdir()} == features_before
    assert (run / "saved_model" / "saved_model.pb").is_file() and not (run / "backup").exists()


def _tiny_fit(folder: Path, epochs: int, save_weights=None) -> list[int]:
    """Fits a one-layer model with stage 2's backup callback; returns the epochs it ran."""
    import keras
    import numpy as np

    from trainer.stage2 import backup_and_restore

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    if save_weights is not None:
        model.save_weights = save_weights(model.save_weights)
    ran = []
    model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=epochs, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: ran.append(e)),
                         backup_and_restore(folder)])
    return ran


class Killed(Exception):
    pass


@pytest.mark.parametrize("killed_in", [1, 3])
def test_a_kill_while_the_backup_is_written_resumes_from_the_last_whole_one(tmp_path, killed_in):
    """SIGKILL can fall while an epoch's checkpoint is half on disk, the first epoch's included (issue 23:
    every rerun failed): the rerun resumes from the last whole one, or from the start."""
    from trainer.stage2 import _backed_up_epochs

    folder = tmp_path / "backup"

    def dies_in_a_save(save):
        calls = []

        def save_weights(filepath, overwrite=True):
            calls.append(filepath)
            save(filepath, overwrite=overwrite)
            if len(calls) == killed_in:  # this epoch's file cut off in mid-write, then the process gone
                data = Path(filepath).read_bytes()
                Path(filepath).write_bytes(data[:len(data) // 3])
                raise Killed

        return save_weights

    with pytest.raises(Killed):
        _tiny_fit(folder, 5, dies_in_a_save)
    assert _backed_up_epochs(folder) == killed_in - 1
    assert _tiny_fit(folder, 5) == list(range(killed_in - 1, 5))
    assert not folder.exists()  # removed once stage 2 is done


def test_a_half_written_backup_from_keras_is_passed_over(tmp_path):
    """Keras' own BackupAndRestore wrote latest.weights.h5 in place: a kill in mid-write left a torn file
    that every rerun failed to open (issue 23). It is passed over for the one before, or for a fresh start."""
    import shutil

    from trainer.stage2 import _backed_up_epochs

    folder = tmp_path / "backup"
    kept = tmp_path / "kept"

    def keeps_the_backup(save):
        calls = []

        def save_weights(filepath, overwrite=True):
            save(filepath, overwrite=overwrite)
            calls.append(filepath)
            if len(calls) == 3:
                shutil.copytree(folder, kept)  # the folder as a kill after the second epoch leaves it
                raise Killed

        return save_weights

    with pytest.raises(Killed):
        _tiny_fit(folder, 4, keeps_the_backup)
    latest = kept / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:len(latest.read_bytes()) // 2])
    assert _backed_up_epochs(kept) == 1  # the one before it
    assert _tiny_fit(kept, 4) == [1, 2, 3]

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(30000))
    (garbage / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    assert _backed_up_epochs(garbage) == 0
    assert _tiny_fit(garbage, 2) == [0, 1]
