"""How fast SkinLens is in the browser, per TensorFlow.js backend, against the same model in Python.

    .venv/bin/python benchmarks/bench_browser.py                  # web/ and its model, 30 runs each
    .venv/bin/python benchmarks/bench_browser.py --runs 50 --backends wasm cpu --json bench.json
    .venv/bin/python benchmarks/bench_browser.py --compare /tmp/previous/web/model   # beside another model

In one run on one machine it prints: the time from navigation to ready (model downloaded, checked and
warmed up, the photo inputs enabled; the self-test runs right after) in a fresh browser context (cold:
empty HTTP cache, no service worker) and again once the service worker controls the page (warm: a
returning user), for the page as a user gets it (no `?backend=`, the backend it picks) and for each
backend forced (`--navigations N`: the median of N such pairs of visits); the per-image latency in the
page (web/skinlens.js `model.classify` on 224×224 RGB pixels, its `timing.modelMs`: model, activation
maps and out-of-scope signals, no decoding and no resize) per backend; and the same model's latency in
Python TensorFlow (`trainer.predict.Predictor` on web/model, the graph TensorFlow.js runs), with the ratio
browser / Python, all at batch size 1. Then a batch as a clinic gives it: `--batch N` copies of the photo
chosen in the page's file input, wall time from choosing to the page's skinlens:batch event, per photo
(decoding and showing included), with the page's default threads (the page and pool.js's workers: one
starts once the page has self-tested, the rest for the first batch, and they serve the next) and with
`?threads=1`, the first batch and the median of the next `--batch-rounds`; beside Predictor on a batch of N.
A benchmark, not a test: it asserts nothing. Timings on a busy machine are noisy; the median is shown.

--json PATH also writes the figures: `python_ms` (median per image), `browser_ms` (the page's default
backend, median per image), `ready_ms` (warm navigation → ready), `cold_ready_ms`, `worker_ms` and
`cold_worker_ms` (skinlens:ready → the page's warm inference worker ready, warm and cold visits; null where
the page starts none), `threads` (the count the page's backend used), `backend`, and `backends` (the same figures per forced backend, or `error`);
and `batch`: {photos, threads (how many classified), first_ms and ms (per photo: first batch, median of the
later ones), one_thread_ms, one_thread_first_ms, python_ms (per photo of Predictor's batch)}.

--compare DIR also times another model folder (e.g. the previous release's web/model, from
`git worktree add /tmp/previous v1`) in the same app, on the same photo, right after the first, in the
page as a user gets it and in Python, and prints both side by side; the JSON then has `compare`: {dir,
model, python_ms, browser_ms, ready_ms, cold_ready_ms, backend, threads, ratio (browser ÷ Python)}, and
`versus_compare`: {browser_ms, python_ms, ready_ms}, each the first model's figure ÷ the compared one's
(0.25: the first takes a quarter of the compared model's time).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import WEB_ROOT, create_app, serving  # noqa: E402

# The page's skinlens:ready and :error events (main.js), recorded for the benchmark: the page puts nothing on
# window. Ready is sent once the self-test, which runs right after the page is ready, has finished.
READY_RECORDER = """
document.addEventListener('skinlens:ready', (event) => { window.__ready = event.detail; window.__readyAt = performance.now(); });
document.addEventListener('skinlens:batch', (event) => { window.__batch = event.detail; });
document.addEventListener('skinlens:error', (event) => { window.__failed = event.detail; });
"""
WAIT_FOR_READY = """async () => {
  while (!window.__ready && !window.__failed) await new Promise((resolve) => setTimeout(resolve, 50));
  return window.__ready ?? null;
}"""

# Milliseconds from skinlens:ready (the self-test done) to the page's warm inference worker being ready (the
# threads line counts it: main.js showThreads), or null where the page starts none (one thread allowed, WebGL,
# the cpu backend) or it could not start.
WORKER_READY = """async () => {
  const {threadCount} = await import('./pool.js');
  if (threadCount(location.search) < 2 || !window.__ready.backend.startsWith('wasm')) return null;
  const line = () => document.getElementById('threads').textContent;
  const started = performance.now();
  while (performance.now() - started < 60000) {
    if (line().includes('(the page and 1 worker)')) return performance.now() - window.__readyAt;
    if (line().includes('could not start')) return null;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return null;
}"""

# Times the module API's classify on the same 224×224 input, in a model loaded through it on the backend
# the page chose: `warmup` untimed runs, then `runs` timed ones. Threads: the wasm backend's own count.
TIME_IN_PAGE = """async ([values, size, warmup, runs, backend]) => {
  const {load} = await import('./skinlens.js');
  const model = await load('model/', {backends: [backend]});
  const pixels = {data: Uint8Array.from(values), width: size, height: size, channels: 3};
  for (let i = 0; i < warmup; i++) await model.classify(pixels);
  const times = [];
  for (let i = 0; i < runs; i++) times.push((await model.classify(pixels)).timing.modelMs);
  const threads = model.backend === 'wasm' ? globalThis.tf.wasm.getThreadsCount() : 1;
  return {times, detail: model.backendDetail, threads};
}"""

# The next batch the page announces (main.js skinlens:batch), taken so that the next call waits for a new one.
WAIT_FOR_BATCH = """async () => {
  while (!window.__batch) await new Promise((resolve) => setTimeout(resolve, 20));
  const batch = window.__batch;
  window.__batch = null;
  return {threads: batch.threads, photos: batch.results.length, failed: batch.results.filter((r) => r.error).length};
}"""

# Resolves once sw.js controls the page (main.js registers it once ready; it claims the page on activation).
CONTROLLED = """async () => {
  await navigator.serviceWorker.ready;
  while (!navigator.serviceWorker.controller) await new Promise((resolve) => setTimeout(resolve, 50));
}"""


def _ready(page, url):
    """Navigates to `url` and returns the page's skinlens:ready detail with workerMs (WORKER_READY), or its
    status text if it failed."""
    page.goto(url)
    ready = page.evaluate(WAIT_FOR_READY)
    if ready is None or page.get_attribute("#status", "data-state") != "ready":
        return page.inner_text("#status")
    return {**ready, "workerMs": page.evaluate(WORKER_READY)}


def _median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _navigations(browser, target, times):
    """(cold, warm) ready details of `times` visits, each in a fresh context (a cold start: empty HTTP
    cache, no service worker yet) and again once its service worker controls the page (a returning user);
    an error string instead if the page failed. Leaves the last context open, for timing in it."""
    cold, warm, page = [], [], None
    for _ in range(times):
        if page is not None:
            page.context.close()
        page = browser.new_context().new_page()
        page.add_init_script(READY_RECORDER)
        cold.append(_ready(page, target))
        if isinstance(cold[-1], str):
            return cold[-1], page
        page.evaluate(CONTROLLED)
        warm.append(_ready(page, target))
        if isinstance(warm[-1], str):
            return warm[-1], page
    return (cold, warm), page


def browser_timings(url, backends, pixels, warmup, runs, chromium, navigations=1):
    """{None (the page's default) or backend: dict of version (the model the page loaded), cold_ready_ms and
    ready_ms (warm; medians of `navigations` visits), backend, detail, threads, times (per-image ms); or an
    error string}, and Chromium's version."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        for backend in [None, *backends]:
            target = url if backend is None else f"{url}?backend={backend}"
            visits, page = _navigations(browser, target, navigations)
            if isinstance(visits, str):
                out[backend] = visits
            else:
                cold, warm = visits
                chosen = backend or cold[0]["backend"].split(" ")[0]
                timed = page.evaluate(TIME_IN_PAGE, [pixels.ravel().tolist(), pixels.shape[0], warmup, runs, chosen])
                out[backend] = {"version": cold[0]["version"],
                                "cold_ready_ms": statistics.median(r["readyMs"] for r in cold),
                                "ready_ms": statistics.median(r["readyMs"] for r in warm), "backend": chosen,
                                "cold_worker_ms": _median_or_none(r["workerMs"] for r in cold),
                                "worker_ms": _median_or_none(r["workerMs"] for r in warm),
                                "detail": timed["detail"], "threads": timed["threads"], "times": timed["times"]}
            page.context.close()
        version = browser.version
        browser.close()
    return out, version


def batch_timings(url, files, rounds, chromium):
    """{'default' and 'one': [(ms per photo, threads) of each batch]} for the page as a user gets it and
    with ?threads=1: `rounds` + 1 batches of `files` in one visit each (the first starts the workers)."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        for name, query in (("default", ""), ("one", "?threads=1")):
            page = browser.new_context().new_page()
            page.add_init_script(READY_RECORDER)
            ready = _ready(page, url + query)
            if isinstance(ready, str):
                raise RuntimeError(f"the page did not start: {ready}")
            out[name] = []
            for _ in range(rounds + 1):
                start = time.perf_counter()
                page.set_input_files("#files", files)
                batch = page.evaluate(WAIT_FOR_BATCH)
                if batch["failed"]:
                    raise RuntimeError(f"{batch['failed']} photos of the batch were not classified")
                out[name].append(((time.perf_counter() - start) * 1000 / len(files), batch["threads"]))
            page.context.close()
        browser.close()
    return out


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


def python_batch_ms(model_dir, x, photos, rounds):
    """Per-photo ms of Predictor(model_dir).probabilities on a batch of `photos` copies (median of `rounds`,
    after one untimed)."""
    from trainer.predict import Predictor

    predictor = Predictor(model_dir)
    batch = np.repeat(x[None].astype(np.float32), photos, axis=0)
    predictor.probabilities(batch)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        predictor.probabilities(batch)
        times.append((time.perf_counter() - start) * 1000 / photos)
    return statistics.median(times)


def compare_timings(args):
    """The --compare model's figures: {model, python_ms, and per_image_ms, p90_ms, ratio (÷ Python),
    cold_ready_ms, ready_ms, backend, detail, threads; or error} for the page as a user gets it, with DIR
    served as the app's model (server.py --model), on args.image at DIR's own input size."""
    import json

    from trainer.images import prepare

    metadata = json.loads((args.compare / "metadata.json").read_text())
    size = metadata["input"]["height"]
    pixels = np.round(prepare(args.image, size, size)).astype(np.uint8)
    with serving(create_app({"WEB_ROOT": str(args.web), "MODEL_DIR": str(args.compare)})) as url:
        browser, _ = browser_timings(url, [], pixels, args.warmup, args.runs, args.chromium, args.navigations)
    python = statistics.median(python_timings(args.compare, pixels.astype(np.float32), args.warmup, args.runs))
    out = {"model": metadata["model"]["version"], "python_ms": round(python, 2)}
    result = browser[None]
    if isinstance(result, str):
        return {**out, "error": result}
    if result["version"] != out["model"]:  # so that a figure is never put beside the wrong model
        return {**out, "error": f"the page loaded model {result['version']}, not {args.compare}'s"}
    median = statistics.median(result["times"])
    return {**out, "per_image_ms": round(median, 2), "p90_ms": round(float(np.percentile(result["times"], 90)), 2),
            "ratio": round(median / python, 3), "cold_ready_ms": round(result["cold_ready_ms"], 1),
            "ready_ms": round(result["ready_ms"], 1), "backend": result["backend"], "detail": result["detail"],
            "threads": result["threads"]}


def compare_table(folder, metadata, first, python_ms, compared):
    """Prints the first model beside the --compare one and returns {browser_ms, ready_ms, python_ms}: each
    the first's figure ÷ the compared one's (None where either page failed)."""
    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    versus = {"browser_ms": ratio(first.get("per_image_ms"), compared.get("per_image_ms")),
              "ready_ms": ratio(first.get("ready_ms"), compared.get("ready_ms")),
              "python_ms": ratio(python_ms, compared["python_ms"])}
    print(f"\nBeside {folder}, in the page as a user gets it, on the same photo:")
    print(f"{'model':34} {'navigation→ready':>17} {'warm':>9} {'per image (median)':>19} {'÷ Python':>9} "
          f"{'Python':>9}")
    rows = ((f"first {metadata['model']['version']}", first, python_ms),
            (f"compared {compared['model']}", compared, compared["python_ms"]))
    for name, row, python in rows:
        if row.get("error"):
            print(f"{name:34} failed: {row['error']}")
        else:
            print(f"{name:34} {row['cold_ready_ms']:14.0f} ms {row['ready_ms']:6.0f} ms {row['per_image_ms']:16.1f} ms "
                  f"{row['ratio']:8.2f}× {python:6.1f} ms")
    shown = {key: "—" if value is None else f"{value:.3f}×" for key, value in versus.items()}
    print(f"{'first ÷ compared':34} {'':>17} {shown['ready_ms']:>9} {shown['browser_ms']:>19} {'':>9} "
          f"{shown['python_ms']:>9}")
    return versus


def _rounded(ms):
    return None if ms is None else round(ms, 1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Time SkinLens in Chromium per backend and in Python TensorFlow.")
    parser.add_argument("--web", type=Path, default=WEB_ROOT, help="web root to serve (default: %(default)s)")
    parser.add_argument("--image", type=Path, default=ROOT / "tests" / "fixtures" / "images" / "ISIC_0024310.jpg",
                        help="photo to classify (default: %(default)s)")
    parser.add_argument("--backends", nargs="+", default=["wasm", "webgl", "cpu"],
                        help="TensorFlow.js backends (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per backend (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default: %(default)s)")
    parser.add_argument("--navigations", type=int, default=1,
                        help="cold and warm visits per backend; ready times are their medians (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=16, help="photos in the timed batches (default: %(default)s)")
    parser.add_argument("--batch-rounds", type=int, default=3,
                        help="batches timed after the first, per thread setting (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="another model folder (a web/model) to time beside the first, on the same photo")
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

    with serving(create_app({"WEB_ROOT": str(args.web)})) as url, tempfile.TemporaryDirectory() as folder:
        browser, version = browser_timings(url, args.backends, pixels, args.warmup, args.runs, args.chromium,
                                             args.navigations)
        copies = [Path(folder) / f"photo-{i + 1:03d}{args.image.suffix}" for i in range(args.batch)]
        for copy in copies:
            shutil.copyfile(args.image, copy)
        batches = batch_timings(url, [str(copy) for copy in copies], args.batch_rounds, args.chromium)
    python = python_timings(args.web / "model", pixels.astype(np.float32), args.warmup, args.runs)
    python_median = statistics.median(python)
    python_batch = python_batch_ms(args.web / "model", pixels.astype(np.float32), args.batch, args.batch_rounds)
    compared = compare_timings(args) if args.compare else None

    print(f"SkinLens {metadata['model']['version']} ({metadata['model']['quantization']} weights, {size}×{size}), "
          f"Chromium {version}, {os.cpu_count()} CPU cores, {args.runs} runs after {args.warmup} warm-up, batch 1, "
          f"ready: median of {args.navigations} cold and warm visits")
    print(f"{'where':34} {'navigation→ready':>17} {'warm':>9} {'per image (median)':>19} {'p90':>8} {'÷ Python':>9}")
    figures = {}
    for backend in [None, *args.backends]:
        result = browser[backend]
        where = "browser, as a user gets it" if backend is None else f"browser {backend}"
        if isinstance(result, str):
            print(f"{where:34} failed: {result}")
            figures[backend] = {"error": result}
            continue
        median = statistics.median(result["times"])
        p90 = float(np.percentile(result["times"], 90))
        if backend is not None:
            where = f"browser {result['detail']}"
        print(f"{where:34} {result['cold_ready_ms']:14.0f} ms {result['ready_ms']:6.0f} ms {median:16.1f} ms "
              f"{p90:5.1f} ms {median / python_median:8.2f}×")
        figures[backend] = {"backend": result["backend"], "detail": result["detail"], "threads": result["threads"],
                            "cold_ready_ms": round(result["cold_ready_ms"], 1),
                            "ready_ms": round(result["ready_ms"], 1),
                            "cold_worker_ms": _rounded(result["cold_worker_ms"]),
                            "worker_ms": _rounded(result["worker_ms"]),
                            "per_image_ms": round(median, 2), "p90_ms": round(p90, 2),
                            "ratio": round(median / python_median, 3)}
    print(f"{'Python TensorFlow (same graph)':34} {'':>17} {'':>9} {python_median:16.1f} ms "
          f"{float(np.percentile(python, 90)):5.1f} ms {1:8.2f}×")
    default = figures[None]
    if default.get("worker_ms") is not None:
        print(f"\nThe page's warm inference worker ready after its self-test (it checks the first golden image): "
              f"{default['cold_worker_ms']:.0f} ms cold, {default['worker_ms']:.0f} ms warm")
    batch = {"photos": args.batch, "threads": max(threads for _, threads in batches["default"]),
             "first_ms": round(batches["default"][0][0], 1),
             "ms": round(statistics.median(ms for ms, _ in batches["default"][1:]), 1),
             "one_thread_first_ms": round(batches["one"][0][0], 1),
             "one_thread_ms": round(statistics.median(ms for ms, _ in batches["one"][1:]), 1),
             "python_ms": round(python_batch, 2)}
    print(f"\nA batch of {args.batch} photos chosen in the page, per photo (decoding and showing included; "
          f"median of {args.batch_rounds} batches after the first):")
    threads = f"{batch['threads']} thread{'s' if batch['threads'] > 1 else ''}"
    print(f"{'page as a user gets it, ' + threads:34} {batch['ms']:8.1f} ms "
          f"(first batch {batch['first_ms']:.1f} ms) {batch['ms'] / python_batch:8.2f}× Python")
    print(f"{'page with ?threads=1':34} {batch['one_thread_ms']:8.1f} ms (first batch {batch['one_thread_first_ms']:.1f} "
          f"ms) {batch['one_thread_ms'] / python_batch:8.2f}× Python")
    print(f"{'Python TensorFlow, batch of ' + str(args.batch):34} {python_batch:8.1f} ms")
    versus = compare_table(args.compare, metadata, figures[None], python_median, compared) if compared else None
    if args.json:
        summary = {"model": metadata["model"]["version"], "chromium": version, "cpu_cores": os.cpu_count(),
                   "runs": args.runs, "warmup": args.warmup, "navigations": args.navigations,
                   "python_ms": round(python_median, 2),
                   "browser_ms": default.get("per_image_ms"), "ready_ms": default.get("ready_ms"),
                   "cold_ready_ms": default.get("cold_ready_ms"), "threads": default.get("threads"),
                   "worker_ms": default.get("worker_ms"), "cold_worker_ms": default.get("cold_worker_ms"),
                   "backend": default.get("detail"), "error": default.get("error"),
                   "backends": {name: figures[name] for name in args.backends}, "batch": batch}
        if compared:
            summary["compare"] = {"dir": str(args.compare), "model": compared["model"],
                                  "python_ms": compared["python_ms"], "browser_ms": compared.get("per_image_ms"),
                                  "ready_ms": compared.get("ready_ms"), "cold_ready_ms": compared.get("cold_ready_ms"),
                                  "backend": compared.get("detail"), "threads": compared.get("threads"),
                                  "ratio": compared.get("ratio"), "error": compared.get("error")}
            summary["versus_compare"] = versus
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
