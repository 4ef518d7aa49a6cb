"""One resolved training configuration, saved as ``config.json`` in every run folder.

The converter and ``trainer predict`` read the saved file; nothing downstream re-declares
a constant that lives here (input size, alpha, label scheme, resize rule).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RunError

# The colour transparent pixels are composited onto, on both sides (Python and browser).
ALPHA_BACKGROUND = (255, 255, 255)


def names(text: str) -> tuple[str, ...]:
    """A comma-separated list on the command line ("mel,bcc") as a tuple of names."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def flag(default, help: str, group: str, **argparse_options):
    """A field that is also a flag of ``python -m trainer train`` (``cli.py`` builds the parser from these).

    Args:
        help: the flag's help text (argparse adds the default).
        group: the ``--help`` section it is listed in: "data", "model" or "training".
        argparse_options: anything else ``add_argument`` takes (choices, required, a flag name that
            is not the field's).
    """
    return field(default=default, metadata={"help": help, "group": group, **argparse_options})


@dataclass(frozen=True)
class Config:
    """Everything a run needs to be reproduced.

    A field made with ``flag`` is a command-line flag of ``python -m trainer train`` (``--field-name``,
    its type and default from here): adding a flag is adding a field.
    """

    data: tuple[str, ...] = flag((), "dataset folder(s); several folders are one dataset, split together by lesion",
                                 "data", required=True)
    dataset: str = flag("auto", "ham10000: metadata CSV + images; isic: ISIC CSVs (one-hot or diagnosis column; "
                        "SIIM-ISIC 2020's train.csv, grouped by patient_id); derm12345: metadata CSV with "
                        "isic_id + label; folders: one subfolder per class, each holding that class's images. "
                        "Folders named after the classes of --scheme (benign/, malignant/, other/) or after "
                        "HAM10000 diagnoses (akiec/ bcc/ bkl/ df/ mel/ nv/ vasc/) are that scheme's classes; "
                        "any other names are the classes themselves (then --malignant says which are "
                        "malignant); pad-ufes-20: PAD-UFES-20's metadata.csv + images (smartphone photos, grouped by "
                        "patient_id); auto: detect each folder's format (folders of several formats are one "
                        "dataset, e.g. HAM10000 and PAD-UFES-20)", "data",
                        flag="--format", choices=["auto", "ham10000", "isic", "derm12345", "folders", "pad-ufes-20"])
    scheme: str = flag("dx7", "label scheme (unused when class folders carry their own names)", "data",
                       choices=["dx7", "benign-malignant", "benign-malignant-other"])
    # Set by the trainer when the class folders are not a built-in scheme's: the folder names
    # (trainer/labels.py).
    classes: tuple[str, ...] = ()
    malignant: tuple[str, ...] = flag((), "with class folders of your own names: the comma-separated folders that "
                                      "are malignant (their summed probability is the screening risk; at least one "
                                      "is needed)", "data", type=names, metavar="CLASS,…")
    # Where the data comes from, where its reader does not know (or to correct it): provenance.json.
    dataset_name: str | None = flag(None, "the data's name for the model card and page; None: the reader's "
                                    "(HAM10000, SIIM-ISIC 2020, …; unknown for --format folders)", "data", type=str)
    dataset_citation: str | None = flag(None, "how to cite the data", "data", type=str)
    dataset_licence: str | None = flag(None, "the data's licence, e.g. CC BY 4.0", "data", type=str)
    seed: int = flag(1337, "seed for the split and training", "data")
    val_fraction: float = flag(0.15, "share of lesions for validation (in steps of 5%%)", "data")
    test_fraction: float = flag(0.15, "share of lesions for test (in steps of 5%%)", "data")
    folds: int = flag(0, "K >= 3: grouped K-fold cross-validation (one run per fold, then mean ± sd)", "data")
    image_size: int = flag(224, "input height and width", "model")
    alpha: float = flag(1.0, "MobileNetV2 width multiplier", "model")
    weights: str = flag("imagenet", '"imagenet" (Keras downloads them), a no-top .h5 file, or "none"', "model")
    dropout: float = flag(0.3, "dropout before the classifier", "model")
    batch_size: int = flag(32, "batch size (global: with --distribute, the replicas share each batch)", "training")
    head_epochs: int = flag(30, "max epochs of the head (early stopping)", "training")
    head_learning_rate: float = flag(1e-3, "Adam learning rate", "training")
    imbalance: str = flag("auto", "class-imbalance remedy; auto tries both in stage 1 and keeps the better on "
                          "validation", "training", choices=["auto", "class_weight", "balanced"])
    fine_tune_epochs: int = flag(0, "stage 2 epochs (0: head only)", "training")
    cut: str = flag("block_5_add", "stage 2 trains every backbone layer above this one, from its cached outputs "
                    "(a block's output: block_N_add, or block_N_project_BN where a block has no add)", "training")
    views: int = flag(6, "augmented views of each training image cached at --cut (stage 2 draws one per epoch)",
                      "training")
    phone_look: float = flag(0.0, "share of stage 2's augmented training views made to look like a phone photo "
                             "(the lesion smaller in the frame on skin, room light or flash, JPEG loss)", "training")
    photo_share: float = flag(0.0, "with ordinary photos and dermoscopy in the data (e.g. PAD-UFES-20 beside "
                              "HAM10000): the share of stage 2's draws that are photos (0: as the data has them)",
                              "training")
    fine_tune_learning_rate: float = flag(2e-4, "stage 2 peak Adam learning rate (linear warm-up, then cosine "
                                          "decay to 0)", "training")
    warmup_epochs: int = flag(1, "stage 2 warm-up epochs", "training")
    distil_epochs: int = flag(0, "after stage 2, epochs that train a one-view student towards the 8-view model's "
                              "answers (needs --tta-views 1; trainer/distil.py)", "training")
    tta_views: int = flag(8, "dihedral views (flips, transposes) the exported model averages", "training",
                          choices=[1, 2, 4, 8])
    colour_constancy: bool = flag(False, "Shades of Gray (p=6) colour constancy as the model's first layer",
                                  "training")
    clinical: bool = flag(False, "a second input for age, sex and body site where the dataset has them "
                          "(HAM10000, ISIC metadata, SIIM-ISIC 2020); each stays optional for the user", "training")
    questions: bool = flag(False, "with --clinical: also six yes/no questions a person can answer about the spot "
                           "(has it grown, changed, bled, does it itch, hurt, is it raised; PAD-UFES-20 has them), "
                           "each optional; images whose dataset did not ask train with them unanswered", "training")
    target_sensitivity: float = flag(0.95, "malignant sensitivity the screening threshold is chosen for, on "
                                     "validation", "training")
    outliers: str = flag("", "a folder of pictures that are not dermoscopic close-ups (any layout; e.g. the fit/ "
                         "part of scripts/make_outliers.py's set): the out-of-scope detector learns them besides "
                         "its built-in synthetic pictures", "training")
    distribute: str = flag("none", "stage 2 on several devices: mirrored (this machine's GPUs) or multi-worker "
                           "(several machines, each running this command with its TF_CONFIG); see the README",
                           "training", choices=["none", "mirrored", "multi-worker"])
    bootstrap: int = flag(1000, "bootstrap resamples (of lesions) for the test split's 95%% intervals", "evaluation")
    alpha_background: tuple[int, int, int] = ALPHA_BACKGROUND

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def save(self, path: Path) -> None:
        part = Path(path).with_name(Path(path).name + ".part")  # whole or not at all: a rerun compares it
        part.write_text(self.to_json() + "\n")
        os.replace(part, path)

    @classmethod
    def load(cls, path: Path) -> "Config":
        """Raises:
            RunError: ``path`` does not read as a configuration (missing, damaged, unknown keys)."""
        try:
            raw = json.loads(Path(path).read_text())
            unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ValueError(f"unknown config keys {sorted(unknown)}")
            for key in ("data", "alpha_background", "classes", "malignant"):
                if key in raw:
                    raw[key] = tuple(raw[key])
            return cls(**raw)
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise RunError(f"{path} is not a usable config.json ({type(err).__name__}: {err})") from err

    @classmethod
    def of_run(cls, run: Path, *needs: str) -> "Config":
        """The configuration of the run folder ``run``, once it is one and holds ``needs``.

        Args:
            needs: the files or folders of the run that the caller reads (e.g. "saved_model").

        Raises:
            RunError: in words, when ``run`` is no run folder or lacks one of ``needs``.
        """
        run = Path(run)
        if not run.is_dir():
            raise RunError(f"{run}: no such run folder")
        if not (run / "config.json").is_file():
            raise RunError(f"{run} is not a run folder (it has no config.json; `python -m trainer train --out "
                           f"{run}` makes one)")
        config = cls.load(run / "config.json")
        missing = [name for name in needs if not (run / name).exists()]
        if missing:
            raise RunError(f"{run} has no {' or '.join(missing)}: its training did not finish (rerun the same "
                           "`python -m trainer train` command to complete it)")
        return config
