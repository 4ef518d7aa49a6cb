"""What a user's mistake prints: one line, ``error: …``, on stderr, and exit code 2; the traceback only
with ``--debug``. Shared by ``python -m trainer`` (``trainer/cli.py``) and ``python -m converter``.

A mistake is an error of a class below ``UserError`` (a dataset, run folder, model folder, image or
clinical answer that cannot be used as asked); any other exception is a bug and keeps its traceback.
TensorFlow's start-up logging is quiet too, unless ``--debug``: ``quiet_tensorflow`` sets its log
level before TensorFlow is imported, and ``one_line`` imports it with the lines that its import writes
to stderr regardless of any level (CUDA plugins registering on a machine without a GPU) dropped.
"""

from __future__ import annotations

import os
import sys
from typing import Callable


class UserError(Exception):
    """Something the user gave that cannot be used: said in one line, without a traceback."""


class RunError(UserError, ValueError):
    """A run folder that cannot be used as asked: missing, incomplete, unreadable or made otherwise."""


def quiet_tensorflow(argv: list[str]) -> None:
    """Keeps TensorFlow's and XLA's C++ start-up logging (INFO and WARNING lines) out of a command's
    output, unless ``argv`` asks for ``--debug``. Must run before TensorFlow is imported."""
    if "--debug" in argv:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")


def import_tensorflow(debug: bool = False) -> None:
    """Imports TensorFlow; unless ``debug``, with its C++ import-time lines to stderr dropped (absl
    writes them before ``TF_CPP_MIN_LOG_LEVEL`` applies), by pointing file descriptor 2 elsewhere meanwhile."""
    if debug or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def one_line(command: Callable[[], int], debug: bool = False) -> int:
    """Runs ``command`` (after importing TensorFlow quietly, which every command uses); a ``UserError``
    becomes ``error: <message>`` on stderr and exit code 2.

    Args:
        debug: let the error through with its traceback, and TensorFlow's logging.

    Returns:
        the command's exit code, or 2.
    """
    import_tensorflow(debug)
    try:
        return command()
    except UserError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
