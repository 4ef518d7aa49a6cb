"""The run folder's writing rules: a timestamped log line, and files written whole or not at all.

A training run can be killed at any moment (a SIGKILL, a power cut) and rerun with the same command.
Every file a rerun reads back (caches, checkpoints, the exported model) is therefore written beside
its final name and moved into place with ``os.replace``, which is atomic: a reader finds the old
file, the new one or none, never a half-written one. Used by every stage; imports nothing of theirs.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` whole: aside first, then renamed over it."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


def save_weights(model, path: Path) -> None:
    """``model.save_weights(path)``, whole or not at all (Keras writes an .h5 file in place, piece by piece).

    The file aside keeps the ``.weights.h5`` ending Keras requires.
    """
    path = Path(path)
    part = path.with_name("part-" + path.name)
    model.save_weights(str(part), overwrite=True)
    os.replace(part, path)


def replace_folder(write, path: Path) -> None:
    """Calls ``write(folder)`` on a folder beside ``path``, then puts it in ``path``'s place.

    A kill while writing leaves the previous ``path`` (or none) and a ``.part`` folder that the next
    call clears; a kill between the two renames leaves ``path`` missing, which a rerun writes again.
    """
    path = Path(path)
    part, old = path.with_name(path.name + ".part"), path.with_name(path.name + ".old")
    for leftover in (part, old):
        shutil.rmtree(leftover, ignore_errors=True)
    write(part)
    if path.exists():
        os.replace(path, old)
    os.replace(part, path)
    shutil.rmtree(old, ignore_errors=True)


def readable_h5(path: Path) -> bool:
    """Whether ``path`` is an HDF5 file that opens (a file cut off in mid-write does not)."""
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False
