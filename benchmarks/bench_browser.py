"""How fast SkinLens is in the browser, per TensorFlow.js backend, against the same model in Python.

    .venv/bin/python benchmarks/bench_browser.py                  # web/ and its model, 30 runs each
    .venv/bin/python benchmarks/bench_browser.py --runs 50 --backends wasm cpu

In one run on one machine it prints: the time from navigation to ready (model downloaded, checked,
warmed up and self-tested) per backend in a fresh browser context; the per-image latency in the page
(web/skinlens.js `model.classify` on 224×224 RGB pixels, its `timing.modelMs`: model, activation maps
and out-of-scope signals, no decoding and no resize) per backend; and the same model's latency in Python TensorFlow (`trainer.predict.Predictor`
on web/model, the graph TensorFlow.js runs), with the ratio browser / Python. Batch size 1 everywhere.
A benchmark, not a test: it asserts nothing. Timings on a busy machine are noisy; the median is shown.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import WEB_ROOT, create_app, serving  # noqa: E402

# The page's skinlens:ready event (main.js), recorded for the benchmark: the page puts nothing on window.
READY_RECORDER = "document.addEventListener('skinlens:ready', (event) => { window.__ready = event.detail; });"

# Times the module API's classify on the same 224×224 input, in a model loaded through it on the backend
# the page chose: `warmup` untimed runs, then `runs` timed ones.
TIME_IN_PAGE = """async ([values, size, warmup, runs, backend]) => {
  const {load} = await import('./skinlens.js');
  const model = await load('model/', {backends: [backend]});
  const pixels = {data: Uint8Array.from(values), width: size, height: size, channels: 3};
  for (let i = 0; i < warmup; i++) await model.classify(pixels);
  const times = [];
  for (let i = 0; i < runs; i++) times.push((await model.classify(pixels)).timing.modelMs);
  return {times, backend: model.backendDetail};
}"""


def browser_timings(url, backends, pixels, warmup, runs, chromium):
    """{backend: (navigation→ready ms, [per-image ms], backend in words) or error string}."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        for backend in backends:
            context = browser.new_context()  # a cold start: empty HTTP cache, no service worker yet
            page = context.new_page()
            page.add_init_script(READY_RECORDER)
            page.goto(f"{url}?backend={backend}")
            page.wait_for_selector("#status:not([data-state=loading])", timeout=300_000)
            if page.get_attribute("#status", "data-state") != "ready":
                out[backend] = page.inner_text("#status")
            else:
                ready = page.evaluate("window.__ready.readyMs")
                timed = page.evaluate(TIME_IN_PAGE, [pixels.ravel().tolist(), pixels.shape[0], warmup, runs, backend])
                out[backend] = (ready, timed["times"], timed["backend"])
            context.close()
        version = browser.version
        browser.close()
    return out, version


def python_timings(model_dir, x, warmup, runs):
    """Per-image ms of Predictor(model_dir).probabilities on one float32 image (batch 1)."""
    from trainer.predict import Predictor

    predictor = Predictor(model_dir)
    batch = x[None].astype(np.float32)
    for _ in range(warmup):
        predictor.probabilities(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor.probabilities(batch)
        times.append((time.perf_counter() - start) * 1000)
    return times


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Time SkinLens in Chromium per backend and in Python TensorFlow.")
    parser.add_argument("--web", type=Path, default=WEB_ROOT, help="web root to serve (default: %(default)s)")
    parser.add_argument("--image", type=Path, default=ROOT / "tests" / "fixtures" / "images" / "ISIC_0024310.jpg",
                        help="photo to classify (default: %(default)s)")
    parser.add_argument("--backends", nargs="+", default=["wasm", "webgl", "cpu"],
                        help="TensorFlow.js backends (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per backend (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default: %(default)s)")
    parser.add_argument("--chromium", default=os.environ.get("SKINLENS_CHROMIUM", "/usr/bin/chromium"),
                        help="Chromium to drive (default: $SKINLENS_CHROMIUM or %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    import json

    from trainer.images import prepare

    args = parse_args(argv)
    metadata = json.loads((args.web / "model" / "metadata.json").read_text())
    size = metadata["input"]["height"]
    x = prepare(args.image, size, size)
    pixels = np.round(x).astype(np.uint8)

    with serving(create_app({"WEB_ROOT": str(args.web)})) as url:
        browser, version = browser_timings(url, args.backends, pixels, args.warmup, args.runs, args.chromium)
    python = python_timings(args.web / "model", pixels.astype(np.float32), args.warmup, args.runs)
    python_median = statistics.median(python)

    print(f"SkinLens {metadata['model']['version']} ({metadata['model']['quantization']} weights, {size}×{size}), "
          f"Chromium {version}, {os.cpu_count()} CPU cores, {args.runs} runs after {args.warmup} warm-up, batch 1")
    print(f"{'where':34} {'navigation→ready':>17} {'per image (median)':>19} {'p90':>8} {'÷ Python':>9}")
    for backend in args.backends:
        result = browser[backend]
        if isinstance(result, str):
            print(f"{'browser ' + backend:34} {'failed: ' + result}")
            continue
        ready, times, detail = result
        median = statistics.median(times)
        p90 = float(np.percentile(times, 90))
        print(f"{'browser ' + detail:34} {ready:15.0f} ms {median:16.1f} ms {p90:5.1f} ms {median / python_median:8.2f}×")
    print(f"{'Python TensorFlow (same graph)':34} {'':>17} {python_median:16.1f} ms "
          f"{float(np.percentile(python, 90)):5.1f} ms {1:8.2f}×")


if __name__ == "__main__":
    main()
