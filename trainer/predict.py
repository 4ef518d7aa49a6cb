"""Python's reference probabilities for image files: what the browser must reproduce.

    python -m trainer predict web/model lesion.jpg other.png --csv out.csv
    python -m trainer predict runs/full lesion.jpg

MODEL is either a converted web model folder (``model.json`` + ``metadata.json``) or a run folder
(``config.json`` + ``saved_model/``). A web model runs in TensorFlow from its own graph and
weights, dequantized the way TensorFlow.js dequantizes them, so its numbers are those of the
exact model the browser loads; the converter records them for its golden images. It is checked as
strictly as the browser checks it: metadata.json against its version, every file against its sha256.

A file that cannot be read is reported and the others go on; the exit code is 1 when any failed, 2 when
the model folder cannot be used (one line saying why). CSV cells a spreadsheet would run as formulas
are defused as the page's CSV does (web/csv.js).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from . import clinical, labels
from .config import Config
from .errors import UserError
from .metrics import decide
from .images import ImageError, prepare


class ModelError(UserError):
    """A model folder that cannot be used: missing, incomplete, altered or not a model at all."""


def verify_web_model(model_dir: Path) -> dict:
    """metadata.json, checked as the page checks it: every field by the page's rules
    (converter/contract.py ``check_metadata``, web/metadata.js ``checkMetadata``), its version the hash of its
    content, and every file it names has its sha256. Returns the metadata."""
    import hashlib

    from converter.contract import ContractError, check_metadata, content_digest

    try:
        text = (model_dir / "metadata.json").read_text()
    except (OSError, ValueError) as err:
        raise ModelError(f"{model_dir}/metadata.json is not usable ({type(err).__name__}: {err})") from err
    try:  # NaN and Infinity are not JSON, and JSON.parse refuses them: so does this
        meta = json.loads(text, parse_constant=lambda name: _not_json(name))
    except ValueError as err:
        raise ModelError(f"{model_dir}: metadata.json is not valid JSON ({err})") from err
    try:
        check_metadata(meta)
    except ContractError as err:
        raise ModelError(f"{model_dir}: {err}") from err
    version, files = meta["model"]["version"], meta["model"]["files"]
    if not version.endswith("-" + content_digest(meta)[:12]):
        raise ModelError(f"{model_dir}: metadata.json says version {version}, but its content is version "
                         f"…-{content_digest(meta)[:12]}: it was changed after conversion")
    for name, expected in files.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"{model_dir}: {name} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected.lower():
            raise ModelError(f"{model_dir}: {name} is corrupt or altered (its sha256 does not match metadata.json)")
    return meta


def _not_json(name: str):
    raise ValueError(f"{name} is not a JSON value")


def formula_safe(value) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @, a tab or a CR gets a leading
    apostrophe (web/csv.js does the same)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def tfjs_graph_function(model_dir: str | Path):
    """Runs a tfjs graph model in TensorFlow: model.json's GraphDef with its (dequantized) weights.

    The converter emits standard TensorFlow ops (fused Conv2D/MatMul included), so TensorFlow
    can execute the very graph TensorFlow.js executes.

    Returns:
        a function: (float32 images (n, H, W, 3), clinical vectors (n, size) or None) -> {output key:
        numpy array}. The vectors are fed only to a model with a clinical input (all missing when None).
    """
    import os

    import tensorflow as tf
    from google.protobuf.json_format import ParseDict
    from tensorflow.core.framework import graph_pb2

    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")  # see converter.convert.to_tfjs
    from tensorflowjs.read_weights import read_weights

    model_dir = Path(model_dir)
    model_json = json.loads((model_dir / "model.json").read_text())
    graph_def = ParseDict(model_json["modelTopology"], graph_pb2.GraphDef(), ignore_unknown_fields=True)
    weights = {w["name"]: w["data"] for group in read_weights(model_json["weightsManifest"], str(model_dir))
               for w in group}
    for node in graph_def.node:
        if node.name in weights:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node.name]))
            node.attr["dtype"].type = tf.as_dtype(weights[node.name].dtype).as_datatype_enum
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    signature = model_json["signature"]
    inputs = {key: spec["name"] for key, spec in signature["inputs"].items()}
    names = [inputs["image"] if "image" in inputs else next(iter(inputs.values()))]
    if "clinical" in inputs:
        names.append(inputs["clinical"])
        layout = clinical.Layout.of_size(wrapped.graph.get_tensor_by_name(inputs["clinical"]).shape[-1])
    keys = list(signature["outputs"])
    fn = wrapped.prune([wrapped.graph.get_tensor_by_name(n) for n in names],
                       [wrapped.graph.get_tensor_by_name(signature["outputs"][k]["name"]) for k in keys])

    def run(images: np.ndarray, vectors: np.ndarray | None = None) -> dict[str, np.ndarray]:
        feeds = [tf.constant(images, tf.float32)]
        if len(names) == 2:
            feeds.append(tf.constant(layout.batch(vectors, len(images)), tf.float32))
        return {k: v.numpy() for k, v in zip(keys, fn(*feeds))}

    return run


class Predictor:
    """Loads a web model or run folder once and classifies images with it."""

    def __init__(self, model_dir: str | Path):
        import tensorflow as tf

        model_dir = Path(model_dir)
        if (model_dir / "model.json").is_file() and (model_dir / "metadata.json").is_file():
            meta = verify_web_model(model_dir)
            self.class_ids = [c["id"] for c in meta["classes"]]
            self.height, self.width = meta["input"]["height"], meta["input"]["width"]
            try:
                self._fn = tfjs_graph_function(model_dir)
            except Exception as err:  # verified files that still do not make a graph: say so in one line
                raise ModelError(f"{model_dir}: model.json and its weights do not load "
                                 f"({type(err).__name__}: {err})") from err
            # As the page's warm-up does: one probability per class listed, or the model is not this metadata's.
            outputs = self._fn(np.zeros((1, self.height, self.width, 3), np.float32))["probabilities"]
            if outputs.shape[-1] != len(self.class_ids):
                raise ModelError(f"{model_dir}: the model outputs {outputs.shape[-1]} probabilities but "
                                 f"metadata.json lists {len(self.class_ids)} classes")
            self.layout = clinical.Layout.of_size(meta["clinical"]["size"]) if meta.get("clinical") else None
            self.class_log_weights = (meta.get("decision") or {}).get("class_log_weights")
        elif (model_dir / "config.json").is_file() and (model_dir / "saved_model").is_dir():
            config = Config.load(model_dir / "config.json")
            self.class_ids = labels.class_ids(config)
            self.height = self.width = config.image_size
            try:
                serve = tf.saved_model.load(str(model_dir / "saved_model")).signatures["serving_default"]
            except Exception as err:
                raise ModelError(f"{model_dir}/saved_model does not load ({type(err).__name__}: {err})") from err
            input_names = set(serve.structured_input_signature[1])

            def run(x, vectors=None):
                feeds = {"image" if "image" in input_names else next(iter(input_names)): tf.constant(x, tf.float32)}
                if "clinical" in input_names:
                    feeds["clinical"] = tf.constant(self.layout.batch(vectors, len(x)), tf.float32)
                return {k: v.numpy() for k, v in serve(**feeds).items()}

            self._fn = run
            self.layout = clinical.layout(config.questions) if "clinical" in input_names else None
            calibration = model_dir / "calibration.json"
            decision = json.loads(calibration.read_text()).get("decision") if calibration.is_file() else None
            self.class_log_weights = (decision or {}).get("class_log_weights")
        else:
            raise ModelError(f"{model_dir}: neither a web model folder (model.json + metadata.json) "
                             "nor a run folder (config.json + saved_model/)")

    def outputs(self, images: np.ndarray, vectors: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every model output (probabilities, cam, feature_distance) for prepared float32 images.

        Args:
            vectors: clinical vectors (``self.layout.encode``), one per image or one for all;
                None is "not given". Ignored by a model without a clinical input.
        """
        return self._fn(images, vectors)

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """The class index shown for each row of probabilities (the model's decision rule)."""
        return decide(np.atleast_2d(probabilities), self.class_log_weights)

    def probabilities(self, images: np.ndarray, vectors: np.ndarray | None = None) -> np.ndarray:
        """Probabilities for a batch of prepared float32 images (n, H, W, 3) in 0..255 (see ``outputs``)."""
        return self._fn(images, vectors)["probabilities"]

    def predict_files(self, paths: list[str], answers: dict | None = None) -> list[tuple[str, np.ndarray | None, str | None]]:
        """(path, probabilities or None, error message or None) for each file.

        Args:
            answers: clinical metadata for every file, e.g. {"age": 45, "site": "back"} (any left out).
        """
        vector = self.layout.encode(**answers) if answers else None
        results = []
        for path in paths:
            try:
                x = prepare(path, self.height, self.width)
            except ImageError as err:
                results.append((path, None, str(err)))
                continue
            results.append((path, self.probabilities(x[None], vector)[0], None))
        return results


def main(model_dir: str, images: list[str], csv_path: str | None = None, answers: dict | None = None) -> int:
    """Prints (and with ``csv_path`` writes) each image's probabilities.

    Returns:
        0, or 1 when a file could not be read.

    Raises:
        ModelError, ClinicalError: the model folder or an answer cannot be used (``trainer/errors.py``
        says it in one line).
    """
    predictor = Predictor(model_dir)
    if answers and predictor.layout is None:
        print(f"{model_dir}: this model takes no age, sex, body site or questions; they are ignored", file=sys.stderr)
        answers = None
    asked = sorted(set(answers or {}) & set(clinical.QUESTION_NAMES), key=clinical.QUESTION_NAMES.index)
    if asked and not predictor.layout.questions:
        print(f"{model_dir}: this model was trained without the questions; {', '.join(asked)} ignored",
              file=sys.stderr)
        answers = {k: v for k, v in answers.items() if k not in asked}
    (predictor.layout or clinical.BASE).encode(**(answers or {}))  # a bad answer fails before any image is read
    results = predictor.predict_files(images, answers)
    failed = 0
    for path, probs, error in results:
        if error:
            failed += 1
            # trainer.images' messages start with the file's path or name: not twice on one line.
            reason = error.removeprefix(f"{path}: ").removeprefix(f"{Path(path).name}: ")
            print(f"{path}: ERROR {reason}", file=sys.stderr)
            continue
        top = int(predictor.decide(probs)[0])
        ranked = ", ".join(f"{cid} {p:.6f}" for cid, p in zip(predictor.class_ids, probs))
        print(f"{path}: {predictor.class_ids[top]} ({probs[top]:.4f}) | {ranked}")
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "top_class", *predictor.class_ids, "error"])
            for path, probs, error in results:
                if error:
                    row = [path, "", *[""] * len(predictor.class_ids), error]
                else:
                    row = [path, predictor.class_ids[int(predictor.decide(probs)[0])], *[f"{p:.8f}" for p in probs], ""]
                writer.writerow([formula_safe(cell) for cell in row])
    if failed:
        print(f"{failed} of {len(results)} file(s) could not be read", file=sys.stderr)
    return 1 if failed else 0
