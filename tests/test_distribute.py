"""--distribute: stage 2 under tf.distribute gives what one device gives, and workers agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
PROBE = ROOT / "tests" / "distribute_probe.py"


# One xdist process runs all the tests that train (pyproject: --dist loadgroup): two trainings at once on
# 2 cores each took half the machine from the other's, and the suite's time varied from 12 to 15 min.
pytestmark = pytest.mark.xdist_group("training")


@pytest.mark.slow
def test_mirrored_on_two_devices_trains_the_weights_one_device_trains(tmp_path):
    """Two logical CPU devices (how Keras tests MirroredStrategy), class weights, a warm-up schedule
    and a last batch of one image (one replica's share is empty): measured 1.0e-7 apart after 2
    epochs in which the weights moved 0.029; float sums in another order, nothing more. Killed after
    epoch 1's backup and rerun, the fit runs epoch 2 alone (BackupAndRestore) to the unbroken run's
    weights (measured: equal bit for bit)."""
    done = subprocess.run([sys.executable, str(PROBE), str(tmp_path), "mirrored"],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["max_change"] > 1e-2  # it trained: a difference below could not hide in the noise
    assert result["max_difference"] < 1e-5
    assert result["losses"]["distributed"] == pytest.approx(result["losses"]["one_device"], abs=1e-6)
    assert result["resumed_epochs"] == [1] and result["resumed_difference"] < 1e-6


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _datasets(path: Path) -> dict:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: out.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return out


def _two_workers(command, tmp_path, timeout):
    """Runs ``command`` as a chief and a worker on 127.0.0.1 (TF_CONFIG and TMPDIR of their own);
    returns their exit codes and logs."""
    cluster = {"chief": [f"127.0.0.1:{_free_port()}"], "worker": [f"127.0.0.1:{_free_port()}"]}
    workers = {}
    for task in ("chief", "worker"):
        (tmp_path / f"{task}_tmp").mkdir()
        env = {**ENV, "TMPDIR": str(tmp_path / f"{task}_tmp"),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task, "index": 0}})}
        with (tmp_path / f"{task}.log").open("w") as log:
            workers[task] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        codes = {task: p.wait(timeout=timeout) for task, p in workers.items()}
    finally:
        for p in workers.values():
            if p.poll() is None:
                p.kill()
    return codes, {task: (tmp_path / f"{task}.log").read_text() for task in workers}


@pytest.mark.slow
def test_two_workers_fit_to_identical_weights_those_one_device_fits(tmp_path):
    """distribute.fit under MultiWorkerMirroredStrategy, a chief and a worker on 127.0.0.1 whose models
    were seeded differently: both end with the same weights bit for bit, the one-device weights from
    the chief's start (measured 1.0e-7 apart; the weights moved 0.029)."""
    import numpy as np

    codes, logs = _two_workers([sys.executable, str(PROBE), str(tmp_path), "multi-worker"], tmp_path, 300)
    assert codes == {"chief": 0, "worker": 0}, logs["chief"][-3000:] + logs["worker"][-3000:]
    result = json.loads(logs["chief"].strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["max_change"] > 1e-2
    assert result["max_difference"] < 1e-5
    chief, worker = np.load(tmp_path / "chief.npz"), np.load(tmp_path / "worker.npz")
    assert len(chief.files) == len(worker.files) > 5
    assert all(np.array_equal(chief[k], worker[k]) for k in chief.files)


@pytest.mark.slow
def test_two_workers_train_identical_weights_and_the_chief_alone_writes_the_run(tiny_inputs, tmp_path):
    """``trainer train --distribute multi-worker`` end to end: a chief and a worker on 127.0.0.1, each
    with its TF_CONFIG. Stage 2's weights are the same bit for bit on both; the chief's run folder is
    complete; the worker wrote only its own folder under its TMPDIR and stopped after stage 2."""
    import numpy as np

    data, weights = tiny_inputs
    run = tmp_path / "run"
    command = [sys.executable, "-m", "trainer", "train", "--data", str(data), "--image-size", "96", "--alpha", "0.35",
               "--weights", str(weights), "--head-epochs", "1", "--imbalance", "class_weight", "--batch-size", "16",
               "--fine-tune-epochs", "2", "--cut", "block_14_add", "--views", "1", "--tta-views", "1",
               "--distribute", "multi-worker", "--bootstrap", "50", "--out", str(run)]
    codes, logs = _two_workers(command, tmp_path, 420)
    assert codes == {"chief": 0, "worker": 0}, logs["chief"][-3000:] + logs["worker"][-3000:]

    (worker_run,) = (tmp_path / "worker_tmp").glob("skinlens-worker-0-*/run")
    ours, theirs = _datasets(run / "stage2_best.weights.h5"), _datasets(worker_run / "stage2_best.weights.h5")
    assert ours.keys() == theirs.keys() and len(ours) > 10
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)
    digests = {task: [line.split("digest ")[1].split()[0] for line in logs[task].splitlines() if "weights digest" in line]
               for task in logs}
    assert len(digests["chief"]) == 1 and digests["chief"] == digests["worker"]
    assert all("epoch 2/2 on 2 replicas" in log for log in logs.values())

    for name in ("config.json", "split.csv", "stage2_best.weights.h5", "history_stage2.csv", "calibration.json",
                 "predictions_test.csv", "report.json", "report.md", "model.weights.h5", "saved_model/saved_model.pb"):
        assert (run / name).exists(), name
    assert json.loads((run / "config.json").read_text())["distribute"] == "multi-worker"
    assert len((run / "history_stage2.csv").read_text().splitlines()) == 3  # header and 2 epochs
    assert not any((worker_run / name).exists() for name in ("report.json", "saved_model", "calibration.json"))
    assert not list((tmp_path / "chief_tmp").glob("skinlens-*"))  # the chief writes --out only


def test_multi_worker_without_tf_config_says_what_is_missing(monkeypatch):
    """Without TF_CONFIG, MultiWorkerMirroredStrategy would quietly train alone: refused, in words."""
    from trainer import distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribute.start.__wrapped__("multi-worker")
    assert distribute.start("none") is None and distribute.is_chief(None)
