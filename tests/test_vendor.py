"""web/vendor/tfjs/: the committed TensorFlow.js files are exactly what `npm run vendor` copies.

VERSIONS.json's hashes are always checked against the vendored files. Where node_modules exists
(after `npm ci`), each vendored file must also be byte-identical to its source and every installed
version must equal package.json's pin; without node_modules only that comparison is skipped.
"""

import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "web" / "vendor" / "tfjs"
EXPECTED_FILES = {
    "tf-core.min.js", "tf-backend-cpu.min.js", "tf-backend-webgl.min.js", "tf-backend-wasm.min.js",
    "tf-converter.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
    "tfjs-backend-wasm-threaded-simd.wasm", "LICENSE",
}
PACKAGES = {"@tensorflow/tfjs-core", "@tensorflow/tfjs-converter", "@tensorflow/tfjs-backend-cpu",
            "@tensorflow/tfjs-backend-webgl", "@tensorflow/tfjs-backend-wasm"}


def _json(path):
    return json.loads(Path(path).read_text())


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def versions():
    return _json(VENDOR / "VERSIONS.json")


@pytest.fixture(scope="module")
def pins():
    return _json(ROOT / "package.json")["dependencies"]


def test_package_json_pins_exact_versions(pins):
    assert set(pins) == PACKAGES
    assert set(pins.values()) == {"4.22.0"}, "one tfjs version, pinned exactly (no ^ or ~)"


def test_lock_file_matches_the_pins(pins):
    lock = _json(ROOT / "package-lock.json")
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_vendor_folder_holds_exactly_the_expected_files(versions):
    assert set(versions["files"]) == EXPECTED_FILES
    assert {p.name for p in VENDOR.iterdir()} == EXPECTED_FILES | {"VERSIONS.json"}


def test_bundles_come_from_the_pinned_packages_dist(versions):
    for name, source in versions["sources"].items():
        if name != "LICENSE":
            package, folder, file = source.removeprefix("node_modules/").rsplit("/", 2)
            assert (package, folder, file) in {(p, "dist", name) for p in PACKAGES}, source


def test_versions_json_matches_the_pins(versions, pins):
    assert versions["packages"] == pins


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_vendored_file_matches_its_recorded_hash(versions, name):
    assert _sha256(VENDOR / name) == versions["files"][name]


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_vendored_file_is_identical_to_its_source(versions, name):
    source = ROOT / versions["sources"][name]
    if source.parts[len(ROOT.parts)] == "node_modules" and not (ROOT / "node_modules").is_dir():
        pytest.skip("node_modules is missing: run npm ci to compare the vendored files with it")
    assert (VENDOR / name).read_bytes() == source.read_bytes(), f"{name} differs from {source}: run npm run vendor"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_installed_version_matches_the_pin(pins, package):
    installed = ROOT / "node_modules" / package / "package.json"
    if not (ROOT / "node_modules").is_dir():
        pytest.skip("node_modules is missing: run npm ci to compare the installed versions")
    assert _json(installed)["version"] == pins[package]
