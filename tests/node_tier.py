"""The Node tier: tests/js/*.test.js under Node's own test runner (no dependency), driven from pytest.

    from node_tier import node_test
    node_test("answers.test.js", SKINLENS_GOLDEN_ANSWERS=path)
"""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def node_test(name: str, **env) -> None:
    """Runs tests/js/``name`` under Node's test runner (with ``env``'s files) and fails with its report unless
    every test in it passed."""
    node = shutil.which("node")
    assert node, "node is not installed: bash scripts/setup.sh --test installs it"
    run = subprocess.run([node, "--test", f"tests/js/{name}"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": str(Path(node).parent), **{k: str(v) for k, v in env.items()}})
    assert run.returncode == 0 and "# fail 0" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    assert "# pass 0" not in run.stdout, run.stdout
