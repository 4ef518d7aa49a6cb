"""Run by tests/test_distribute.py in a subprocess: stage 2's fit of a tiny model on one device
(``model.fit``) and under MirroredStrategy on two logical CPU devices (``trainer.distribute.fit``),
from the same weights and the same batches. Prints one JSON line.

Logical devices must be configured before TensorFlow initialises its devices, hence a process of
its own (as Keras' own MirroredStrategy tests do).

    python tests/distribute_probe.py OUT_DIR
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(out: Path) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here.parent), str(here)]  # this checkout's trainer, and tiny_model
    from tiny_model import tiny_config

    from trainer import distribute
    from trainer.model import build_model
    from trainer.train import class_weights, freeze_for_stage2
    from trainer.views import view_batches

    # Dropout off: its masks are drawn per replica, so with it the two runs are equal in distribution only.
    config = tiny_config([], dropout=0.0, clinical=False)
    keras.utils.set_random_seed(config.seed)
    model, _ = build_model(config, 4)
    trainer = freeze_for_stage2(model, config.cut)
    shape = trainer.input.shape[1:]
    rng = np.random.default_rng(0)
    n = 33  # two batches of 16, then one image: one replica's share of the last batch is empty
    cache = rng.normal(0, 1, (n, 2, *shape)).astype(np.float16)
    y = rng.integers(4, size=n)
    y[:4] = np.arange(4)
    weight = class_weights(y, 4)
    start = trainer.get_weights()

    def schedule():
        return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=4, warmup_steps=2, warmup_target=1e-2)

    def batches():
        return view_batches(cache, y, config.batch_size, seed=config.seed, balanced=False, class_weight=weight)

    trainer.compile(optimizer=keras.optimizers.Adam(schedule()),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(batches(), epochs=2, verbose=0, shuffle=False, callbacks=[keras.callbacks.CSVLogger(str(out / "one.csv"))])
    one = trainer.get_weights()

    trainer.set_weights(start)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    distribute.fit(strategy, trainer, batches(), epochs=2, optimizer=lambda: keras.optimizers.Adam(schedule()),
                   callbacks=[keras.callbacks.CSVLogger(str(out / "two.csv"))], log=lambda msg: None)
    two = trainer.get_weights()

    losses = [[float(line.split(",")[1]) for line in (out / f"{name}.csv").read_text().splitlines()[1:]]
              for name in ("one", "two")]
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "max_change": max(float(np.abs(a - s).max()) for a, s in zip(one, start)),
        "max_difference": max(float(np.abs(a - b).max()) for a, b in zip(one, two)),
        "losses_one_device": losses[0], "losses_two_devices": losses[1],
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
