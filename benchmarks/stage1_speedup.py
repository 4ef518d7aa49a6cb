"""How much faster stage 1 is on cached features than through the frozen backbone.

    python benchmarks/stage1_speedup.py --data ../shared/data/ham10000 \
        --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5

Times one epoch of head training on N images both ways (same head, same batch size, same images),
``--repeats`` times each after one untimed warm-up epoch, plus the one-off cost of computing the
features, and prints the median and the range (min-max) of each, the speed-up of the medians and its
range over pairs of runs, and the break-even number of epochs. One epoch timed once gave 95x, 101x and
45x on three runs of the 2-core machine: quote the median and its range, not one run. Not a test: the
figures depend on the machine and on what else it is doing.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, help="dataset folder(s)")
    parser.add_argument("--weights", default="imagenet", help="backbone weights")
    parser.add_argument("--images", type=int, default=512, help="images per epoch to time")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs each way (default 5)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from trainer import labels
    from trainer.config import Config
    from trainer.data import load_batch_arrays
    from trainer.readers import read_dataset
    from trainer.model import backbone_of, build_head, build_model, logits_model

    config = Config(image_size=args.image_size, weights=args.weights, batch_size=args.batch_size)
    records, _ = read_dataset("auto", args.data)
    records = records[: args.images]
    y = np.array([labels.diagnosis_to_index("dx7")[r.dx] for r in records])
    images, ok, _ = load_batch_arrays([r.path for r in records], args.image_size, args.image_size)
    images, y = images[ok], y[ok]
    model, features = build_model(config, 7)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # Through the frozen backbone: every epoch pays the full forward pass.
    backbone_of(model).trainable = False
    end_to_end = logits_model(model)
    end_to_end.compile(optimizer="adam", loss=loss)
    end_to_end.fit(images[:args.batch_size], y[:args.batch_size], epochs=1, verbose=0)  # compile/trace
    frozen, _ = _timed(lambda: end_to_end.fit(images, y, batch_size=args.batch_size, epochs=1, verbose=0),
                       args.repeats)

    extract, feats = _timed(lambda: features.predict(images, batch_size=args.batch_size, verbose=0), args.repeats)
    head = build_head(feats.shape[1], 7, config.dropout)
    head.compile(optimizer="adam", loss=loss)
    head.fit(feats[:args.batch_size], y[:args.batch_size], epochs=1, verbose=0)
    cached, _ = _timed(lambda: head.fit(feats, y, batch_size=args.batch_size, epochs=1, verbose=0), args.repeats)

    n = len(y)
    med = {name: float(np.median(t)) for name, t in (("frozen", frozen), ("extract", extract), ("cached", cached))}
    ratios = np.divide.outer(frozen, cached)  # every pairing of a frozen epoch with a cached one
    print(f"{n} images at {args.image_size} px, batch {args.batch_size}, {os.cpu_count()} CPUs, "
          f"{args.repeats} timed runs each (median, min-max)")
    print(f"epoch through the frozen backbone : {_spread(frozen)} s ({n / med['frozen']:7.1f} img/s)")
    print(f"feature extraction (once)         : {_spread(extract)} s ({n / med['extract']:7.1f} img/s)")
    print(f"epoch on cached features          : {_spread(cached)} s ({n / med['cached']:7.0f} img/s)")
    print(f"per-epoch speed-up                : {med['frozen'] / med['cached']:.0f}x "
          f"(pairs of runs: {ratios.min():.0f}x-{ratios.max():.0f}x)")
    for epochs in (10, 30):
        total_cached = med["extract"] + epochs * med["cached"]
        print(f"{epochs} epochs: {epochs * med['frozen']:7.1f} s vs {total_cached:6.1f} s "
              f"({epochs * med['frozen'] / total_cached:.1f}x)")


def _timed(work, repeats: int):
    """(wall-clock seconds of each of ``repeats`` calls of ``work``, the last call's result)."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t)
    return times, result


def _spread(times: list[float]) -> str:
    import numpy as np

    return f"{np.median(times):8.3f} ({min(times):.3f}-{max(times):.3f})"

if __name__ == "__main__":
    main()
