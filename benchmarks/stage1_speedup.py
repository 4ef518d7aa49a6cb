"""How much faster stage 1 is on cached features than through the frozen backbone.

    python benchmarks/stage1_speedup.py --data ../shared/data/ham10000 \
        --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5

Times one epoch of head training on N images both ways (same head, same batch size), plus the
one-off cost of computing the features, and prints the per-epoch speed-up and the break-even
number of epochs. Not a test: the figures depend on the machine.
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
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from trainer import labels
    from trainer.config import Config
    from trainer.data import load_batch_arrays, read_dataset
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
    t = time.perf_counter()
    end_to_end.fit(images, y, batch_size=args.batch_size, epochs=1, verbose=0)
    frozen_epoch = time.perf_counter() - t

    t = time.perf_counter()
    feats = features.predict(images, batch_size=args.batch_size, verbose=0)
    extract = time.perf_counter() - t
    head = build_head(feats.shape[1], 7, config.dropout)
    head.compile(optimizer="adam", loss=loss)
    head.fit(feats[:args.batch_size], y[:args.batch_size], epochs=1, verbose=0)
    t = time.perf_counter()
    head.fit(feats, y, batch_size=args.batch_size, epochs=1, verbose=0)
    cached_epoch = time.perf_counter() - t

    n = len(y)
    print(f"{n} images at {args.image_size} px, batch {args.batch_size}, {os.cpu_count()} CPUs")
    print(f"epoch through the frozen backbone : {frozen_epoch:8.2f} s ({n / frozen_epoch:7.1f} img/s)")
    print(f"feature extraction (once)         : {extract:8.2f} s ({n / extract:7.1f} img/s)")
    print(f"epoch on cached features          : {cached_epoch:8.3f} s ({n / cached_epoch:7.0f} img/s)")
    print(f"per-epoch speed-up                : {frozen_epoch / cached_epoch:8.0f}x")
    for epochs in (10, 30):
        total_cached = extract + epochs * cached_epoch
        print(f"{epochs} epochs: {epochs * frozen_epoch:7.1f} s vs {total_cached:6.1f} s "
              f"({epochs * frozen_epoch / total_cached:.1f}x)")


if __name__ == "__main__":
    main()
