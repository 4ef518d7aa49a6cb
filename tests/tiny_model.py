"""A tiny, fast SkinLens model for tests: alpha 0.35, 96 px, random weights that still see.

Randomly initialised MobileNetV2 has BatchNorm statistics (mean 0, variance 1) that do not
match its activations, so features shrink to ~1e-10 by the last block and every image gets
the same probabilities: useless for agreement tests, which must be able to fail. Setting
each BatchNorm's moving statistics from a batch of images (data-dependent initialisation)
gives a random network whose outputs differ from image to image.
"""

import numpy as np

from trainer.config import Config

TINY = dict(image_size=96, alpha=0.35, weights="none", dropout=0.1, batch_size=16, head_epochs=3, seed=7,
            fine_tune_epochs=2, cut="block_14_add", views=2, tta_views=2, clinical=True,
            bootstrap=50)  # scikit-learn's input checks cost ~30 ms a resample, whatever the split's size


def calibrate_batchnorm(backbone, images: np.ndarray) -> None:
    """Sets every BatchNormalization's moving mean/variance from ``images`` (in -1..1)."""
    import keras

    for layer in backbone.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        probe = keras.Model(backbone.input, layer.input)
        act = probe(images, training=False).numpy()
        gamma, beta, _, _ = layer.get_weights()
        layer.set_weights([gamma, beta, act.mean(axis=(0, 1, 2)), act.var(axis=(0, 1, 2)) + 1e-3])


def tiny_config(data_dirs, **overrides) -> Config:
    return Config(data=tuple(str(d) for d in data_dirs), **{**TINY, **overrides})


def make_dataset(root, lesions_per_class: int = 16, size=(80, 60)):
    """A HAM10000-layout folder of synthetic lesions: a dark blob whose colour depends on the class.

    Two images per lesion; one unreadable file and one missing file are listed in the CSV too,
    as real datasets have.
    """
    import csv

    from PIL import Image, ImageDraw

    colours = {"nv": (120, 80, 50), "mel": (40, 30, 40), "bkl": (160, 130, 90), "bcc": (200, 120, 130)}
    images = root / "HAM10000_images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for dx, colour in colours.items():
        for i in range(lesions_per_class):
            lesion = f"HAM_{dx}{i:03d}"
            for j in range(2):
                image_id = f"ISIC_{dx}{i:03d}{j}"
                img = Image.new("RGB", size, (225, 180, 160))
                cx, cy, r = size[0] / 2 + rng.normal(0, 5), size[1] / 2 + rng.normal(0, 4), 15 + rng.normal(0, 3)
                ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
                img.save(images / f"{image_id}.jpg", quality=90)
                rows.append((lesion, image_id, dx))
    (images / "ISIC_broken.jpg").write_text("not a jpeg")
    rows += [("HAM_broken", "ISIC_broken", "nv"), ("HAM_gone", "ISIC_gone", "nv")]
    with (root / "HAM10000_metadata.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"])
        # Clinical metadata that says something about the class (age, site half the time) and some that
        # does not (sex), with gaps.
        ages = {"nv": 35, "mel": 60, "bkl": 65, "bcc": 70}
        sites = {"nv": "back", "mel": "face", "bkl": "lower extremity", "bcc": "scalp"}
        writer.writerows([(lesion, image, dx, "histo", "" if i % 7 == 3 else f"{ages.get(dx, 40) + 5 * (i % 5) - 10:.1f}",
                           ("male", "female", "unknown")[i % 3],
                           "unknown" if i % 5 == 4 else sites.get(dx, "back") if i % 2 else sites[("nv", "mel")[i % 4 // 2]])
                          for i, (lesion, image, dx) in enumerate(rows)])
    return root


def make_class_folders(root, colours: dict, lesions_per_class: int = 10, size=(80, 60)):
    """A folder per class (``root/<name>/<lesion>__<n>.jpg``, two images a lesion) of synthetic lesions:
    a dark blob whose colour is the class's."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(1)
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(lesions_per_class):
            for j in range(2):
                img = Image.new("RGB", size, (225, 180, 160))
                cx, cy, r = size[0] / 2 + rng.normal(0, 5), size[1] / 2 + rng.normal(0, 4), 15 + rng.normal(0, 3)
                ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
                img.save(root / name / f"{name}{i:03d}__{j}.jpg", quality=90)
    return root


def make_backbone_weights(path, config: Config, images: np.ndarray):
    """Saves BatchNorm-calibrated random backbone weights to ``path`` (a ``.weights.h5``)."""
    import keras

    from trainer.model import build_backbone

    # Seeded: the same random network in every test session (unseeded, one session in a few drew a network
    # whose head saturated on one class, and tests that need answers to differ from image to image failed).
    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(config)
    calibrate_batchnorm(backbone, images / 127.5 - 1)
    backbone.save_weights(str(path))
    return path


def tiny_setup(workdir):
    """(synthetic dataset folder, BatchNorm-calibrated backbone weights file) under ``workdir``."""
    from pathlib import Path

    from trainer.data import load_batch_arrays
    from trainer.readers import read_ham10000

    workdir = Path(workdir)
    data = make_dataset(workdir / "ham")
    config = tiny_config([data])
    records, _ = read_ham10000([data])
    images, ok, _ = load_batch_arrays([r.path for r in records[:32]], config.image_size, config.image_size)
    return data, make_backbone_weights(workdir / "backbone.weights.h5", config, images[ok])


def make_pad_ufes_dataset(root, patients_per_class: int = 8, size=(96, 96), layout: str = "flat"):
    """A PAD-UFES-20-layout folder of synthetic phone photos: a small blob, its colour the class's, on
    skin with a grey background band, one or two photos of a lesion and one or two lesions a patient.

    Args:
        layout: "flat" (``images/PAT_*.jpg``, as ../shared's) or "official" (``images/imgs_part_1/*.png``).
    """
    import csv

    from PIL import Image, ImageDraw

    colours = {"NEV": (120, 80, 50), "MEL": (40, 30, 40), "SEK": (160, 130, 90), "BCC": (200, 120, 130),
               "SCC": (190, 90, 90)}
    folder = root / "images" / ("imgs_part_1" if layout == "official" else "")
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = []
    for dx, colour in colours.items():
        for p in range(patients_per_class if dx != "SCC" else 3):
            patient = f"PAT_{dx}{p}"
            for lesion in range(1 + p % 2):
                lesion_id = f"{hash((dx, p, lesion)) % 10000}"
                for shot in range(1 + (p + lesion) % 2):
                    name = f"{patient}_{lesion_id}_{shot}"
                    img = Image.new("RGB", size, (200, 160, 140))
                    ImageDraw.Draw(img).rectangle([0, 0, size[0], 14], fill=(90, 90, 100))
                    cx, cy, r = size[0] / 2 + rng.normal(0, 6), size[1] / 2 + rng.normal(0, 6), 8 + rng.normal(0, 2)
                    ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
                    suffix = ".png" if layout == "official" else ".jpg"
                    img.save(folder / f"{name}{suffix}")
                    rows.append((patient, lesion_id, dx, f"{name}.png"))
    # The patient's answers, as PAD-UFES-20 writes them ("True", "False", "UNK"): a cancer has grown and bled
    # more often, and some questions go unanswered.
    def answer(i, dx, question):
        if (i + question) % 7 == 6:
            return ("UNK", "")[i % 2]
        return str((dx in ("MEL", "BCC", "SCC")) != ((i * 5 + question) % 4 == 0))
    with (root / "metadata.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["patient_id", "lesion_id", "age", "gender", "region", "diagnostic", "itch", "grew", "hurt",
                         "changed", "bleed", "elevation", "img_id", "biopsed"])
        writer.writerows([(pt, les, 40 + i % 30, ("MALE", "FEMALE", "")[i % 3], ("FACE", "BACK", "NOSE", "THIGH")[i % 4],
                           dx, *[answer(i, dx, q) for q in range(6)], img, "True")
                          for i, (pt, les, dx, img) in enumerate(rows)])
    return root
