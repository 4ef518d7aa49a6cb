"""The model version and the rules of a usable metadata.json (converter/contract.py), and the offline
manifest (converter/precache.py).

The page computes the version's hash from metadata.json itself (web/metadata.js canonicalJson): Python's
canonical text must be JavaScript's, number for number; the browser tests then load every model only if
the two agree.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from contract_cases import CASES, IDS, malformed_text
from converter.contract import (canonical_json, check_metadata, content_digest, js_number,
                                stamp_version, version_name)
from converter.precache import MANIFEST, NOT_LOADED, main as precache_main, manifest

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
SHIPPED = json.loads((WEB / "model" / "metadata.json").read_text())

# Where Python's repr and JavaScript's toString differ in form: exponents, trailing .0, -0, tiny and huge.
NUMBERS = [0.0, -0.0, 1.0, -3.0, 0.5, 0.1, 1e-7, 1e-6, 1.5e-6, 0.000123, 1e-5, 1e16, 1.2345e16, 1e20, 1e21,
           1.5e21, 123456789012345680000.0, 5e-324, 1.7976931348623157e308, 0.30000000000000004, 2.5e-10,
           -2.5e-8, 3.14159, 100.0, 1e300, 2**53, -(2**53), 7, 0]


def test_numbers_are_written_as_javascript_writes_them():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (npm ci installs it; CI has it)")
    script = "const v = JSON.parse(require('fs').readFileSync(0, 'utf8')); console.log(JSON.stringify(v.map(String)));"
    javascript = json.loads(subprocess.run([node, "-e", script], input=json.dumps(NUMBERS), capture_output=True,
                                           text=True, check=True).stdout)
    assert [js_number(x) for x in NUMBERS] == javascript


def test_canonical_json_sorts_keys_and_has_no_spaces():
    assert canonical_json({"b": [1.0, "é\n", None, True], "a": {"d": 1e-7, "c": -0.0}}) == \
        '{"a":{"c":0,"d":1e-7},"b":[1,"é\\n",null,true]}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_shipped_model_is_stamped_with_its_content():
    assert SHIPPED["model"]["version"] == f"{version_name(SHIPPED)}-{content_digest(SHIPPED)[:12]}"
    assert stamp_version(SHIPPED, version_name(SHIPPED)) == SHIPPED


@pytest.mark.parametrize("edit", [
    lambda m: m["classes"][4].update(name="Harmless freckle"),
    lambda m: m["screening"].update(threshold=0.999),
    lambda m: m["model"]["files"].update({"group1-shard1of2.bin": "0" * 64}),
    lambda m: m["preprocess"].update(exif_orientation=False),
    lambda m: m["golden"][0]["probabilities"].__setitem__(0, 0.5),
], ids=["class-name", "threshold", "weights", "preprocess", "golden"])
def test_anything_metadata_says_changes_the_version(edit):
    edited = json.loads(json.dumps(SHIPPED))
    edit(edited)
    assert content_digest(edited) != content_digest(SHIPPED)
    # ...but not the version's own text, which the hash leaves out.
    renamed = {**SHIPPED, "model": {**SHIPPED["model"], "version": "anything"}}
    assert content_digest(renamed) == content_digest(SHIPPED)


def test_the_committed_manifest_is_up_to_date(capsys):
    """Fails when a file under web/ changed without `python -m converter.precache web`."""
    assert precache_main([str(WEB), "--check"]) == 0, capsys.readouterr().err


def test_a_stale_manifest_is_reported_with_the_changed_file(tmp_path, capsys):
    web = tmp_path / "web"
    shutil.copytree(WEB, web)
    (web / "main.js").write_text((web / "main.js").read_text() + "\n// a change\n")
    assert precache_main([str(web), "--check"]) == 1
    assert capsys.readouterr().err.strip() == (f"{web}/precache.json is stale (main.js): "
                                                f"run python -m converter.precache {web}")
    assert precache_main([str(web)]) == 0 and precache_main([str(web), "--check"]) == 0


def test_the_manifest_lists_every_file_the_app_loads_and_nothing_else():
    files = manifest(WEB)["files"]
    tracked = subprocess.run(["git", "ls-files", "web"], cwd=ROOT, capture_output=True, text=True, check=True)
    expected = {Path(p).relative_to("web").as_posix() for p in tracked.stdout.split()} - NOT_LOADED
    assert set(files) == expected  # every committed app and model file; the manifest and unused ones left out
    assert MANIFEST not in files and "vendor/tfjs/tfjs-backend-wasm-threaded-simd.wasm" not in files


def test_a_ham10000_run_without_provenance_converts_to_the_shipped_licence_text(tmp_path):
    """Runs trained before provenance.json (the shipped one) get their reader's provenance: a HAM10000 run's
    metadata names the data and licence word for word as web/model/metadata.json does; a run with
    provenance.json says what it holds."""
    from converter.convert import dataset_provenance, licence
    from trainer.config import Config

    config = Config(data=("gone/ham10000",), dataset="ham10000")
    dataset = dataset_provenance(tmp_path, config)
    from trainer.readers import HAM10000

    assert dataset["name"] == "HAM10000" and licence(dataset) == {
        "model": "CC BY-NC-SA 4.0 (derived from HAM10000)", "data": f"HAM10000: {HAM10000['citation']} CC BY-NC-SA 4.0.",
        "backbone": SHIPPED["licence"]["backbone"]}
    if [d["name"] for d in SHIPPED.get("datasets") or [SHIPPED["dataset"]]] == ["HAM10000"]:
        assert licence(dataset) == SHIPPED["licence"]  # word for word as a HAM10000-only release says it
    assert dataset_provenance(tmp_path, Config(data=("gone/folder",)))["name"] is None  # unreadable: unknown
    (tmp_path / "provenance.json").write_text(json.dumps({"name": "Clinic X", "citation": None,
                                                          "licence": "CC BY 4.0"}))
    assert licence(dataset_provenance(tmp_path, config)) == {
        "model": "CC BY 4.0 (derived from Clinic X)", "data": "Clinic X: no citation given. CC BY 4.0.",
        "backbone": SHIPPED["licence"]["backbone"]}


IMAGE = Path(__file__).parent / "fixtures" / "images" / "ISIC_0024306.jpg"


def _model_with_metadata(tmp_path, text):
    """web/model's files (linked), with metadata.json's text replaced."""
    model = tmp_path / "model"
    model.mkdir()
    for entry in (WEB / "model").iterdir():
        if entry.name != "metadata.json":
            (model / entry.name).symlink_to(entry.resolve())
    (model / "metadata.json").write_text(text)
    return model


def test_the_shipped_metadata_is_usable():
    check_metadata(SHIPPED)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_predict_refuses_what_the_page_refuses_in_the_same_words(tmp_path, capsys, case):
    """Each malformed metadata.json the page refuses (tests/browser/test_app.py, the same cases), `trainer
    predict` refuses too: one line, exit 2, the page's words, no traceback and nothing classified."""
    from trainer.cli import main as trainer_main

    model = _model_with_metadata(tmp_path, malformed_text(SHIPPED, case))
    assert trainer_main(["predict", str(model), str(IMAGE)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {model}: "), lines
    assert case["says"] in lines[0]
    assert out == ""


def test_the_page_checker_is_the_python_checker_word_for_word(tmp_path):
    """web/metadata.js checkMetadata and converter/contract.py check_metadata, on the shipped metadata.json with
    every field they read deleted or set to each kind of value, and on the fixture's malformed cases: the same
    refusal in the same words, or both accept (tests/js/contract.test.js, under Node)."""
    from contract_cases import refusals
    from node_tier import node_test

    cases = refusals(SHIPPED)
    assert len(cases) > 1500 and {c["id"] for c in cases} >= {"as-shipped", *IDS}
    assert next(c for c in cases if c["id"] == "as-shipped")["says"] is None
    (tmp_path / "contract.json").write_text(json.dumps({"metadata": str(WEB / "model" / "metadata.json"),
                                                         "cases": cases}))
    node_test("contract.test.js", SKINLENS_CONTRACT_CASES=tmp_path / "contract.json")