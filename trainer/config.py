"""One resolved training configuration, saved as ``config.json`` in every run folder.

The converter and ``trainer predict`` read the saved file; nothing downstream re-declares
a constant that lives here (input size, alpha, label scheme, resize rule).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

# The colour transparent pixels are composited onto, on both sides (Python and browser).
ALPHA_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class Config:
    """Everything a run needs to be reproduced.

    Attributes mirror the CLI flags of ``python -m trainer train``; see ``trainer/cli.py``
    for their help texts.
    """

    data: tuple[str, ...] = ()
    dataset: str = "auto"
    scheme: str = "dx7"
    # Set by the trainer when the class folders are not a built-in scheme's: the folder names, and
    # those of them --malignant names (trainer/labels.py).
    classes: tuple[str, ...] = ()
    malignant: tuple[str, ...] = ()
    # Where the data comes from, where its reader does not know (or to correct it): provenance.json.
    dataset_name: str | None = None
    dataset_citation: str | None = None
    dataset_licence: str | None = None
    image_size: int = 224
    alpha: float = 1.0
    weights: str = "imagenet"
    dropout: float = 0.3
    batch_size: int = 32
    head_epochs: int = 30
    head_learning_rate: float = 1e-3
    seed: int = 1337
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    imbalance: str = "auto"
    fine_tune_epochs: int = 0
    cut: str = "block_5_add"
    views: int = 6
    fine_tune_learning_rate: float = 2e-4
    warmup_epochs: int = 1
    tta_views: int = 8
    colour_constancy: bool = False
    clinical: bool = False
    target_sensitivity: float = 0.95
    outliers: str = ""
    folds: int = 0
    distribute: str = "none"
    alpha_background: tuple[int, int, int] = ALPHA_BACKGROUND

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> "Config":
        raw = json.loads(Path(path).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        for key in ("data", "alpha_background", "classes", "malignant"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)
