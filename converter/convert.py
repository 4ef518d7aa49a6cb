"""Run folder -> TensorFlow.js graph model + ``metadata.json``, the browser's only contract.

    python -m converter runs/first --out web/model --quantize float16 \\
        --golden tests/fixtures/images/ISIC_0024306.jpg

The SavedModel from ``model.export()`` becomes a tfjs *graph* model (Keras 3 tfjs layers
models do not load in tfjs 4.22). ``metadata.json`` states everything the browser must not
guess: classes in output order, input size and value range, the resize rule, the tensor
names, each file's sha256, and golden cases (bundled images with the probabilities Python
gives for them) that the browser's self-test and our browser tests compare against.
Golden images are copied next to the web app (``<out>/../golden/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from converter.contract import stamp_version
from converter.precache import write_manifest
from trainer import clinical, labels
from trainer.config import Config
from trainer.errors import RunError
from trainer.images import MAX_BYTES, MAX_PIXELS, MIN_SIDE, prepare
from trainer.predict import Predictor, tfjs_graph_function
from trainer.kinds import PHOTO_PROBABILITY
from trainer.readers import PICTURE_KIND_NAMES, PICTURE_KINDS, UNKNOWN, DatasetError, provenance
from trainer.scope import DARK_MEAN_LUMA

SCHEMA_VERSION = 1
QUANTIZATIONS = ("none", "float16", "uint8")
BACKBONE_LICENCE = "MobileNetV2 ImageNet weights, Apache 2.0 (TensorFlow models)."


def dataset_provenance(run: Path, config: Config) -> dict:
    """The training data's name, citation and licence: the run's provenance.json. A run from before it
    was written gets its reader's (trainer/readers.py: HAM10000's for HAM10000), unknown where the data
    folders can no longer be read."""
    if (run / "provenance.json").is_file():
        return json.loads((run / "provenance.json").read_text())
    try:
        return provenance(config.dataset, list(config.data))
    except DatasetError:
        return dict(UNKNOWN)


def licence(dataset: dict) -> dict:
    """metadata.json's ``licence`` block, in words, from the data's provenance (the model is derived from it)."""
    name, citation, data_licence = dataset.get("name"), dataset.get("citation"), dataset.get("licence")
    data = " ".join([f"{name}:" if name else "Training data:", citation or "no citation given.",
                     f"{data_licence}." if data_licence else "Licence not given."])
    model = (f"{data_licence} (derived from {name or 'its training data'})" if data_licence else
             "not stated: the training data's licence was not given (trainer train --dataset-licence)")
    return {"model": model, "data": data, "backbone": BACKBONE_LICENCE}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def to_tfjs(saved_model: Path, out: Path, quantize: str) -> None:
    """Converts a SavedModel's serving signature into a tfjs graph model in ``out``."""
    # tensorflow_decision_forests (imported by tensorflowjs) greets through IPython when stdout
    # is not a terminal, and IPython is not installed.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    from tensorflowjs import quantization
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    dtype_map = {"none": None,
                 "float16": {quantization.QUANTIZATION_DTYPE_FLOAT16: True},
                 "uint8": {quantization.QUANTIZATION_DTYPE_UINT8: True}}[quantize]
    convert_tf_saved_model(str(saved_model), str(out), signature_def="serving_default",
                           saved_model_tags="serve", quantization_dtype_map=dtype_map)


def name_outputs(staged: Path, converted, reference, probe: np.ndarray) -> None:
    """Gives every output in ``staged``'s model.json its SavedModel key.

    tensorflowjs names an output after its signature key only when no other output has its dtype and
    shape (``_find_signature_def_name``); the others keep a tensor name such as ``Identity_2:0``. Each
    of those is matched here to the one SavedModel output of its shape that gives the same numbers on
    ``probe`` (relative difference < 5%: quantization moves them less), and renamed in model.json.
    """
    path = staged / "model.json"
    model_json = json.loads(path.read_text())
    outputs = model_json["signature"]["outputs"]
    unnamed = [key for key in outputs if ":" in key]
    if not unnamed:
        return
    got, want = converted(probe[None]), reference.outputs(probe[None])
    free = [key for key in want if key not in outputs]
    for key in unnamed:
        errors = {k: float(np.abs(got[key] - want[k]).max() / (np.abs(want[k]).max() + 1e-6))
                  for k in free if want[k].shape == got[key].shape}
        matches = [k for k, error in errors.items() if error < 0.05]
        # Outputs that give the same numbers (e.g. two layers left unfitted, each a constant) are the
        # same function of the probe: either name is right.
        if len(matches) > 1 and all(np.allclose(want[m], want[matches[0]], rtol=1e-3, atol=1e-7) for m in matches):
            matches = matches[:1]
        if not matches and len(errors) == 1:
            # The last SavedModel output of its shape still unnamed (each converted output is one of them): it
            # is that one, whatever quantization did to a near-saturated output.
            matches = list(errors)
        if len(matches) != 1:
            raise ValueError(f"cannot tell which output of the SavedModel the converted {key} is ({errors})")
        outputs[matches[0]] = outputs.pop(key)
        free.remove(matches[0])
    path.write_text(json.dumps(model_json))


def signature_names(model_json: dict) -> tuple[dict[str, str], dict[str, str]]:
    """({input key: tensor name}, {output key: tensor name}) from model.json's signature; a model's
    single input is keyed "image"."""
    sig = model_json["signature"]
    inputs = {key: inp["name"] for key, inp in sig["inputs"].items()}
    if len(inputs) == 1:
        inputs = {"image": next(iter(inputs.values()))}
    return inputs, {key: out["name"] for key, out in sig["outputs"].items()}


# The golden case with clinical metadata: the first golden image again, with these answers, so the
# browser's self-test and tests check the clinical input too.
GOLDEN_CLINICAL = {"age": 70, "sex": "male", "site": "face"}
GOLDEN_QUESTIONS = {"grown": "yes", "bled": "no", "raised": "yes"}  # added for a model trained with --questions


def _clinical(report: dict, input_name: str | None, layout) -> dict | None:
    """metadata.json's clinical block: the vector's layout (trainer/clinical.py), its tensor, and the
    measured comparison with and without it."""
    if input_name is None:
        return None
    info = report.get("clinical") or {}
    return {**layout.spec(), "name": input_name, "scale": info.get("scale"),
            "validation": info.get("validation"), "test": info.get("test"), "coverage": info.get("coverage")}


def _screening(report: dict, temperature: float | None) -> dict | None:
    """The triage rule for the browser: which classes add up to the malignant risk, and where to flag."""
    calibration = report.get("calibration")
    if not calibration:
        return None
    without = None
    if calibration.get("clinical"):
        # A model with a clinical input: photos with every field blank have their own threshold.
        test = (report.get("clinical") or {}).get("test", {}).get("metadata_missing") or {}
        without = {"threshold": calibration["clinical"]["threshold_without_clinical"],
                   "risk_bins": calibration["clinical"].get("risk_bins_without_clinical"),
                   "validation": calibration["clinical"]["validation_without_clinical"],
                   "test": {k: test[k] for k in ("sensitivity", "specificity", "malignant_auc") if k in test} or None}
    # risk_bins: score ranges with how many validation images in each were malignant (what the page says a
    # score means); absent for runs trained before they existed (scripts/backfill_risk_bins.py adds them).
    return {"malignant_classes": report["malignant_classes"], "threshold": calibration["threshold"],
            "risk_bins": calibration.get("risk_bins"), "without_clinical": without,
            "by_kind": _by_kind(report),
            "temperature": temperature or calibration["temperature"], "temperature_fitted": calibration["temperature"],
            "class_bias": calibration.get("class_bias"),
            "target_sensitivity": calibration["target_sensitivity"],
            "validation": calibration["validation"], "test": report["test"]["malignant"]}


# What the page reads of each kind's test figures (trainer/kinds.py measure: per true kind of picture).
KIND_TEST_KEYS = ("n", "n_groups", "n_malignant", "n_benign", "judged_as", "answered", "sensitivity", "specificity",
                  "sensitivity_wilson_95", "malignant_auc", "balanced_accuracy", "macro_auc", "ece",
                  "cancers_lower_concern_unwarned", "intervals_95")


def _by_kind(report: dict) -> dict | None:
    """screening.by_kind: each kind of picture's threshold, risk ranges and validation figures (chosen on the
    validation images the model judged to be of that kind) with its test figures (on the test images of that
    kind); None for a model without a picture_kind output."""
    chosen = (report.get("calibration") or {}).get("by_kind")
    if not chosen:
        return None
    tested = report.get("by_kind") or {}
    return {kind: {**entry, "test": {k: tested[kind][k] for k in KIND_TEST_KEYS if k in tested[kind]}
                   if kind in tested else None}
            for kind, entry in chosen.items()}


def _picture_kinds(report: dict) -> list[dict] | None:
    """The kinds of picture the model tells apart (its picture_kind output is P(ordinary photo))."""
    if not (report.get("calibration") or {}).get("by_kind"):
        return None
    return [{"id": kind, "name": PICTURE_KIND_NAMES[kind]} for kind in PICTURE_KINDS]


def effective_temperature(outputs: dict, class_bias=None) -> float | None:
    """The temperature the converted graph applies, read off its outputs for one image.

    Quantization rounds the baked-in 1/T like any other weight (float16: to ~5e-4), so the
    browser must be told the T it actually gets: log p = logits / T + bias + const, solved for
    1/T by least squares over the classes (the bias as float16 rounds it).
    """
    if "logits" not in outputs:
        return None
    logits = outputs["logits"][0].astype(np.float64)
    logp = np.log(np.maximum(outputs["probabilities"][0].astype(np.float64), 1e-300))
    if class_bias is not None:
        logp = logp - np.asarray(class_bias, np.float16).astype(np.float64)
    dl, dp = logits - logits.mean(), logp - logp.mean()
    scale = float(np.sum(dl * dp) / np.sum(dl * dl)) if np.sum(dl * dl) > 0 else 0.0
    return 1.0 / scale if scale > 0 else None


def _scope(report: dict) -> dict | None:
    """The out-of-scope checks' thresholds (fitted on validation, trainer/scope.py), with the too-dark rule."""
    scope = (report.get("calibration") or {}).get("scope")
    return scope and {**scope, "dark_threshold": scope.get("dark_threshold", DARK_MEAN_LUMA)}


def _decision(report: dict) -> dict | None:
    decision = (report.get("calibration") or {}).get("decision")
    if not decision:
        return None
    return {"rule": decision["rule"], "class_log_weights": decision["class_log_weights"], "tau": decision["tau"]}


def _metrics(report: dict) -> dict:
    """The test-split summary the model card shows (no confusion matrix or per-source detail)."""
    if "test" not in report:
        return {}
    keep = ("n", "n_lesions", "accuracy", "balanced_accuracy", "balanced_accuracy_most_probable", "macro_f1",
            "macro_auc", "ece",
            "ece_before_temperature", "per_class", "intervals_95", "few_cases", "few_cases_min")
    return {"test": {k: report["test"][k] for k in keep if k in report["test"]},
            "stage1_test": report.get("stage1_test")}


def _nan_to_none(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def convert(run: Path, out: Path, quantize: str = "float16", golden: list[Path] = ()) -> dict:
    """Writes the tfjs model and metadata.json for ``run`` into ``out``, replacing what was there.

    Returns:
        the metadata written.
    """
    run, out = Path(run), Path(out)
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"--quantize must be one of {QUANTIZATIONS}")
    config = Config.of_run(run, "saved_model")
    layout = clinical.layout(config.questions)
    dataset = dataset_provenance(run, config)
    report = json.loads((run / "report.json").read_text()) if (run / "report.json").is_file() else {}

    # Decode the golden images first: a bad one fails before anything in `out` is replaced.
    images = [prepare(path, config.image_size, config.image_size) for path in golden]
    float32 = Predictor(run)

    with tempfile.TemporaryDirectory(prefix="skinlens-convert-") as tmp:
        staged = Path(tmp) / "model"
        to_tfjs(run / "saved_model", staged, quantize)
        # The golden numbers come from the converted graph itself, weights dequantized as
        # TensorFlow.js does, so the browser must match them to float32 rounding whatever
        # the quantization. How far quantization moved them from the float32 model is recorded.
        probe = np.random.default_rng(0).uniform(0, 255, (config.image_size, config.image_size, 3)).astype(np.float32)
        name_outputs(staged, tfjs_graph_function(staged), float32, probe)
        converted = tfjs_graph_function(staged)
        model_json = json.loads((staged / "model.json").read_text())
        input_names, output_names = signature_names(model_json)
        # (image index, clinical answers or None) of each golden case
        plan = [(i, None) for i in range(len(images))]
        if images and "clinical" in input_names:
            plan.append((0, {**GOLDEN_CLINICAL, **(GOLDEN_QUESTIONS if layout.questions else {})}))
        reference = [converted(images[i][None], None if answers is None else layout.encode(**answers))
                     ["probabilities"][0] for i, answers in plan]
        probe = images[0] if images else np.full((config.image_size, config.image_size, 3), 128, np.float32)
        temperature = effective_temperature(converted(probe[None]),
                                            report.get("calibration", {}).get("class_bias"))
        fitted = (report.get("calibration") or {}).get("temperature")
        if temperature and fitted and abs(temperature / fitted - 1) > 0.01:  # float16 moves it by ~5e-4
            raise RunError(f"{run}/saved_model applies temperature {temperature:.4g}, but the run's calibration "
                             f"is {fitted:.4g}: the SavedModel was exported without its calibration")
        drift = max((float(np.abs(p - float32.probabilities(
            images[i][None], None if answers is None else layout.encode(**answers))[0]).max())
                     for p, (i, answers) in zip(reference, plan)), default=None)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staged, out)

    files = {p.name: sha256(p) for p in sorted(out.iterdir()) if p.name != "metadata.json"}

    golden_dir = out.parent / "golden"
    cases = []
    if golden:
        golden_dir.mkdir(exist_ok=True)
    for (i, answers), probs in zip(plan, reference):
        target = golden_dir / Path(golden[i]).name
        if Path(golden[i]).resolve() != target.resolve():
            shutil.copyfile(golden[i], target)
        case = {"file": f"{golden_dir.name}/{target.name}", "sha256": sha256(target)}
        if answers is not None:
            case["clinical"] = answers
        cases.append({**case, "probabilities": [float(p) for p in probs]})

    metadata = {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "name": "skinlens-mobilenetv2",
            "version": None,  # stamped below: the run's name and a hash of everything here
            "format": "tfjs-graph-model",
            "model_json": "model.json",
            "quantization": quantize,
            # max |probability change| on the golden images between the float32 model and this one
            "quantization_max_abs_diff": drift,
            "backbone": {"architecture": "MobileNetV2", "alpha": config.alpha},
            # Test-time augmentation inside the graph: the logits are the mean over this many
            # dihedral views (flips/transposes) of the input; the cam is aligned with the input.
            "views": config.tta_views,
            "colour_constancy": "shades-of-gray-p6" if config.colour_constancy else None,
            "files": files,
            "total_bytes": sum((out / name).stat().st_size for name in files),
        },
        "input": {"name": input_names["image"], "height": config.image_size, "width": config.image_size,
                  "channels": 3, "dtype": "float32", "value_range": [0, 255], "layout": "NHWC"},
        # probabilities: (1, classes). cam: (1, h, w, classes) class activation maps in logit units.
        "outputs": output_names,
        "preprocess": {
            "exif_orientation": True,
            "color_space_conversion": "none",
            "alpha_background": list(config.alpha_background),
            "resize": {"method": "integer-average-pool-then-bilinear", "aspect": "stretch",
                       "pool_factor": "max(1, min(floor(h / height), floor(w / width)))",
                       "half_pixel_centers": True, "align_corners": False, "antialias": False},
            "max_bytes": MAX_BYTES, "max_pixels": MAX_PIXELS, "min_side": MIN_SIDE,
        },
        "label_scheme": config.scheme,  # "folders": the classes are the training data's folder names
        # The optional second input: age, sex and body site, and how the browser builds its vector.
        "clinical": _clinical(report, input_names.get("clinical"), layout),
        "classes": labels.classes_metadata(config),
        "golden": cases,
        "screening": _screening(report, temperature),
        # The type shown for a photo: argmax of log p + class_log_weights (chosen on validation for
        # balanced accuracy; the probabilities themselves stay calibrated).
        "decision": _decision(report),
        # Out-of-scope checks: formulas in trainer/scope.py, thresholds fitted on validation.
        "scope": _scope(report),
        # The kinds of picture (picture_kinds), and from which picture_kind output a picture is an ordinary photo.
        "picture_kinds": _picture_kinds(report),
        "picture_kind_photo_from": PHOTO_PROBABILITY if _picture_kinds(report) else None,
        "metrics": _metrics(report),
        "training": {"data": [Path(d).name for d in config.data], "split": "by lesion (group), stratified by class",
                     "imbalance": report.get("imbalance"), "stage2": report.get("stage2"),
                     # With --distil-epochs: the one-view student against the 8-view model, on validation.
                     "distil": report.get("distil"),
                     "skipped_images": report.get("skipped"),
                     "config": json.loads(config.to_json())},
        # Where the training data comes from (name, citation, licence, their urls, population), for the page
        # and the model card.
        "dataset": dataset,
        # Each source on its own when the model learnt from several (HAM10000 and PAD-UFES-20, say).
        "datasets": dataset.get("sources") or [dataset],
        "licence": licence(dataset),
    }
    # NaN (e.g. the precision of a class never predicted) is not JSON: write null.
    metadata = stamp_version(json.loads(json.dumps(_nan_to_none(metadata), allow_nan=False)), run.name)
    (out / "metadata.json").write_text(json.dumps(metadata, indent=1, allow_nan=False) + "\n")
    if (out.parent / "sw.js").is_file():  # a web app's model: its offline copy must list the new files
        write_manifest(out.parent)
    return metadata
