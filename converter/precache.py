"""The offline copy's manifest: ``web/precache.json``, every file of the app and its model with its sha256.

    python -m converter.precache web            # after changing anything under web/ (the converter
                                                # runs it itself when it writes web/model)
    python -m converter.precache web --check    # exit 1 when the manifest is stale (a test runs this)

The page registers ``sw.js?release=<release>``; a new release (any file changed) is a new service
worker, which downloads every listed file, checks each against its sha256, and only then replaces
the previous copy: a returning user gets the update on their next online visit, and offline the last
complete release, never a mix. ``release`` is the first 12 hex digits of the sha256 of the canonical
JSON of ``files``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from converter.contract import DIGITS, canonical_json

MANIFEST = "precache.json"
# Files of web/ that the page never loads: the manifest itself, GitHub Pages' marker, the vendored
# tfjs' version list, and the threaded wasm build (web/skinlens.js keeps the wasm backend single-threaded).
NOT_LOADED = {MANIFEST, ".nojekyll", "vendor/tfjs/VERSIONS.json", "vendor/tfjs/tfjs-backend-wasm-threaded-simd.wasm"}


def _walk(folder: Path, prefix: str = "") -> dict[str, Path]:
    """{path relative to folder, under prefix: file} for every file below folder, symlinks followed."""
    return {prefix + Path(root, name).relative_to(folder).as_posix(): Path(root, name)
            for root, _, names in os.walk(folder, followlinks=True) for name in names}


def manifest(web: Path, replace: dict[str, Path] | None = None) -> dict:
    """{"release": …, "files": {path relative to web: sha256}} for every file under ``web`` the app uses.

    Args:
        replace: top-level folders of web served from elsewhere, e.g. {"model": Path("runs/mine/model")}
            (server.py --model): their files are listed instead of web's own.
    """
    web, replace = Path(web), replace or {}
    found = {name: path for name, path in _walk(web).items() if name.split("/")[0] not in replace}
    for top, folder in replace.items():
        found.update(_walk(Path(folder), f"{top}/") if Path(folder).is_dir() else {})
    files = {name: hashlib.sha256(found[name].read_bytes()).hexdigest() for name in sorted(found)
             if name not in NOT_LOADED and not any(part.startswith(".") for part in name.split("/"))}
    release = hashlib.sha256(canonical_json(files).encode()).hexdigest()[:DIGITS]
    return {"release": release, "files": files}


def write_manifest(web: Path) -> dict:
    """Writes ``web/precache.json`` and returns it."""
    data = manifest(web)
    (Path(web) / MANIFEST).write_text(json.dumps(data, indent=1) + "\n")
    return data


def staleness(web: Path) -> str | None:
    """None when ``web/precache.json`` lists exactly the files under ``web``; else one line naming the files
    that differ and the command that re-stamps it. A stale manifest fails the service worker's install (a
    listed file does not match), so the app never gets its offline copy."""
    path = Path(web) / MANIFEST
    written = json.loads(path.read_text()) if path.is_file() else {"files": {}}
    current = manifest(web)
    changed = sorted(name for name in written["files"].keys() | current["files"].keys()
                     if written["files"].get(name) != current["files"].get(name))
    if written.get("release") == current["release"] and not changed:
        return None
    return f"{path} is stale ({', '.join(changed) or 'release'}): run python -m converter.precache {web}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converter.precache", description=__doc__.split("\n")[0])
    parser.add_argument("web", type=Path, help="the web app's folder (web/)")
    parser.add_argument("--check", action="store_true", help="exit 1, naming the files, if precache.json is stale")
    args = parser.parse_args(argv)
    if not args.check:
        data = write_manifest(args.web)
        print(f"{args.web / MANIFEST}: release {data['release']}, {len(data['files'])} files")
        return 0
    path = args.web / MANIFEST
    stale = staleness(args.web)
    if stale is None:
        print(f"{path}: up to date (release {manifest(args.web)['release']})")
        return 0
    print(stale, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
