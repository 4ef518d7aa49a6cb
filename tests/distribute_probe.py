"""Run by tests/test_distribute.py in subprocesses: stage 2's fit of a tiny model on one device
(``model.fit``) and under a strategy (``trainer.distribute.fit``), from the same batches. Prints one
JSON line and saves the weights each process trained to ``OUT/<task>.npz``.

    python tests/distribute_probe.py OUT mirrored        # MirroredStrategy on two logical CPU devices
    TF_CONFIG=... python tests/distribute_probe.py OUT multi-worker   # once per worker

Logical devices must be configured, and MultiWorkerMirroredStrategy created, before TensorFlow
initialises its devices: hence processes of their own (as Keras' own MirroredStrategy tests do).
Each worker seeds its model differently: the fit must start every worker from the chief's weights.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np


def main(out: Path, mode: str) -> None:
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy, task = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "chief"
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = json.loads(os.environ["TF_CONFIG"])["task"]["type"]
    import keras

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here.parent), str(here)]  # this checkout's trainer, and tiny_model
    from tiny_model import tiny_config

    from trainer import distribute
    from trainer.model import build_model
    from trainer.train import class_weights, freeze_for_stage2
    from trainer.views import view_batches

    # Dropout off: its masks are drawn per replica, so with it the runs are equal in distribution only.
    config = tiny_config([], dropout=0.0, clinical=False)
    keras.utils.set_random_seed(config.seed + (task != "chief"))
    model, _ = build_model(config, 4)
    trainer = freeze_for_stage2(model, config.cut)
    rng = np.random.default_rng(0)  # the same batches on every worker
    n = 33  # two batches of 16, then one image: one replica's share of the last batch is empty
    cache = rng.normal(0, 1, (n, 2, *trainer.input.shape[1:])).astype(np.float16)
    y = rng.integers(4, size=n)
    y[:4] = np.arange(4)

    def fit(run):
        schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=4, warmup_steps=2, warmup_target=1e-2)
        batches = view_batches(cache, y, config.batch_size, seed=config.seed, balanced=False,
                               class_weight=class_weights(y, 4))
        log = keras.callbacks.CSVLogger(str(out / f"{task}_{run.__name__}.csv"))
        run(batches, schedule, log)
        with (out / f"{task}_{run.__name__}.csv").open() as f:
            return [float(line.split(",")[1]) for line in f.read().splitlines()[1:]]

    def distributed(batches, schedule, log):
        distribute.fit(strategy, trainer, batches, epochs=2, optimizer=lambda: keras.optimizers.Adam(schedule),
                       callbacks=[log], log=lambda msg: None)

    def one_device(batches, schedule, log):
        trainer.compile(optimizer=keras.optimizers.Adam(schedule),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainer.fit(batches, epochs=2, verbose=0, shuffle=False, callbacks=[log])

    start = trainer.get_weights()
    losses = {"distributed": fit(distributed)}
    trained = trainer.get_weights()
    np.savez(out / f"{task}.npz", *trained)
    result = {"replicas": strategy.num_replicas_in_sync}
    if task == "chief":  # the reference: the chief's starting weights, on one device
        trainer.set_weights(start)
        losses["one_device"] = fit(one_device)
        one = trainer.get_weights()
        result.update({"max_change": max(float(np.abs(a - s).max()) for a, s in zip(one, start)),
                       "max_difference": max(float(np.abs(a - b).max()) for a, b in zip(one, trained))})
    if mode == "mirrored":  # killed after epoch 1's backup, rerun from the start weights: resumes at epoch 2
        class Killed(Exception):
            pass

        def kill(epoch, logs):
            raise Killed

        backup = keras.callbacks.BackupAndRestore(str(out / "backup"))  # before the kill: epoch 1 is saved
        result["resumed_epochs"] = []
        record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: result["resumed_epochs"].append(epoch))
        for first_epoch, stop in ((0, [keras.callbacks.LambdaCallback(on_epoch_end=kill)]), (1, [record])):
            trainer.set_weights(start)
            schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=4, warmup_steps=2,
                                                              warmup_target=1e-2)
            batches = view_batches(cache, y, config.batch_size, seed=config.seed, balanced=False,
                                   class_weight=class_weights(y, 4), first_epoch=first_epoch)
            try:
                distribute.fit(strategy, trainer, batches, epochs=2, log=lambda msg: None,
                               optimizer=lambda: keras.optimizers.Adam(schedule), callbacks=[backup, *stop])
            except Killed:
                pass
        result["resumed_difference"] = max(float(np.abs(a - b).max()) for a, b in zip(trainer.get_weights(), trained))
    print(json.dumps({**result, "losses": losses}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
