"""Browser time per photo against the number of views averaged inside the graph.

    .venv/bin/python benchmarks/views_latency.py runs/deep --views 1 2 4 8 [--json]

For each view count it rebuilds the run's model with that many views (trainer.train.rebuild), exports
and converts it (float16, with golden images so the page self-tests as usual) into a copy of web/, and
times it with benchmarks/bench_browser.py in Chromium's wasm backend and in Python. The quality side
of the trade-off is in the run's calibration.json ("validation_by_views"), measured on validation.
A benchmark, not a test: it asserts nothing.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GOLDEN = [ROOT / "tests" / "fixtures" / "images" / "ISIC_0024306.jpg"]


def variant_web(run: Path, views: int, where: Path) -> Path:
    """A copy of web/ whose model is ``run``'s with ``views`` views."""
    from converter.convert import convert
    from trainer.config import Config
    from trainer.train import rebuild

    fake = where / f"run_{views}"
    fake.mkdir()
    config = Config.load(run / "config.json")
    Config(**{**config.__dict__, "tta_views": views}).save(fake / "config.json")
    for name in ("report.json", "calibration.json"):
        if (run / name).exists():
            shutil.copy(run / name, fake / name)
    rebuild(run, views).export(str(fake / "saved_model"), verbose=False)
    web = where / f"web_{views}"
    shutil.copytree(ROOT / "web", web, ignore=shutil.ignore_patterns("model", "golden"))
    convert(fake, web / "model", "float16", GOLDEN)
    return web


def main(argv=None):
    import numpy as np

    import bench_browser
    from server import create_app, serving
    from trainer.images import prepare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    quality = json.loads((args.run / "calibration.json").read_text()).get("validation_by_views", {})
    rows = {}
    with tempfile.TemporaryDirectory(prefix="skinlens-views-") as tmp:
        for views in args.views:
            web = variant_web(args.run, views, Path(tmp))
            meta = json.loads((web / "model" / "metadata.json").read_text())
            size = meta["input"]["height"]
            x = prepare(GOLDEN[0], size, size)
            pixels = np.round(x).astype(np.uint8)
            with serving(create_app({"WEB_ROOT": str(web)})) as url:
                browser, _ = bench_browser.browser_timings(url, ["wasm"], pixels, 3, args.runs, args.chromium)
            python = bench_browser.python_timings(web / "model", pixels.astype(np.float32), 3, args.runs)
            result = browser["wasm"]
            rows[views] = {"browser_wasm_ms": None if isinstance(result, str) else statistics.median(result[1]),
                           "ready_ms": None if isinstance(result, str) else result[0],
                           "python_ms": statistics.median(python), **quality.get(str(views), {})}
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'views':>5} {'browser wasm ms':>16} {'Python ms':>10} {'val bal. acc.':>14} {'val macro AUC':>14} "
          f"{'val malignant AUC':>18}")
    for views, r in rows.items():
        fmt = lambda v, spec: format(v, spec) if isinstance(v, (int, float)) else "n/a"  # noqa: E731
        print(f"{views:>5} {fmt(r['browser_wasm_ms'], '16.1f')} {fmt(r['python_ms'], '10.1f')} "
              f"{fmt(r.get('balanced_accuracy'), '14.3f')} {fmt(r.get('macro_auc'), '14.3f')} "
              f"{fmt(r.get('malignant_auc'), '18.3f')}")


if __name__ == "__main__":
    main()
