"""Would a batch go faster in the browser with batched inference, or split between dedicated workers?

    .venv/bin/python benchmarks/bench_workers.py                 # about 2 min; --rounds 4 --photos 6
    .venv/bin/python benchmarks/bench_workers.py --threaded      # about 3 min; the wasm builds instead

Measures the designs issue 9 weighed, on web/'s model in Chromium under the app's own CSP, as they were
weighed before the workers were built into the page (web/pool.js; see "Speed" in the README):

- batched inference: the graph on a batch of 1, 4 and 8 copies of a photo, on the page's thread (wasm),
  milliseconds per photo;
- dedicated workers: k module workers loaded from a same-origin file (CSP `worker-src 'self'`: no
  relaxation, no cross-origin isolation), each importing the vendored TensorFlow.js bundles and
  skinlens.js and loading the model through `load`, then classifying `--photos` photos each through
  `classify`, all k at once: wall time per photo of the batch, for k = 1 and 2 in alternating rounds.

--threaded measures instead what the app gives up by staying single-threaded (issue 9): the graph on
one photo with the feeds and outputs of the batch measurement, started with TensorFlow.js directly rather
than through `load` (which turns the threaded build off); milliseconds per photo, median of `--reps` runs
after 3 warm-ups, each in a fresh browser context (a wasm backend's thread count is fixed when it starts),
in alternating rounds:

- the reference: the SIMD build, single-threaded, on the page above (the app's CSP, no isolation);
- the threaded SIMD build with its own choice of threads, 1 and 2 (`tf.wasm.setThreadsCount`), on a page
  served cross-origin isolated (create_app's ISOLATE: COOP same-origin, COEP require-corp) whose CSP, in
  its header and its <meta>, is the app's plus `blob:` where the build needs it. The build uses at most
  half of navigator.hardwareConcurrency threads, whatever setThreadsCount asks (1 on 2 logical cores), so
  for 2 threads the page is told it has 4.

That build starts its 8 pthread workers from blob: URLs (CSP worker-src), each of which imports the build's
code from another (importScripts: script-src); when either is refused it hangs rather than fails. The
relaxation is found by measurement: the app's CSP, then `blob:` in worker-src, in script-src, in both,
until the build starts within `--limit` seconds. For each attempt the script prints the CSP violations
logged to the page's console and those reported to the header's report-uri (the workers' own refusals
reach only the latter: Playwright does not pass their console messages on), and what the workers relay.

The worker file and the bench pages exist only in a temporary copy of web/ (symlinks) that this script
serves. A benchmark, not a test; on a busy machine the rounds differ widely, so all are printed.
"""

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import CONTENT_SECURITY_POLICY, WEB_ROOT, create_app, serving  # noqa: E402

WORKER = """import './vendor/tfjs/tf-core.min.js';
import './vendor/tfjs/tf-backend-cpu.min.js';
import './vendor/tfjs/tf-backend-wasm.min.js';
import './vendor/tfjs/tf-converter.min.js';
import {load} from './skinlens.js';

let model = null;
self.onmessage = async ({data}) => {
  if (data.type === 'load') {
    model = await load('model/', {backends: ['wasm']});
    self.postMessage({detail: model.backendDetail});
  } else {
    const times = [];
    for (let i = 0; i < data.n; i++) times.push((await model.classify(data.pixels)).timing.modelMs);
    self.postMessage({times});
  }
};
"""

# k workers, loaded together, then `n` photos each, all at once (after 1 untimed photo each).
WORKERS = """async ([values, size, k, n]) => {
  const pixels = {data: Uint8Array.from(values), width: size, height: size, channels: 3};
  const workers = Array.from({length: k}, () => new Worker('bench-worker.js', {type: 'module'}));
  const ask = (worker, message) => new Promise((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(new Error(event.message));
    worker.postMessage(message);
  });
  const start = performance.now();
  const [{detail}] = await Promise.all(workers.map((worker) => ask(worker, {type: 'load'})));
  const loaded = performance.now();
  await Promise.all(workers.map((worker) => ask(worker, {type: 'run', pixels, n: 1})));
  const timed = performance.now();
  await Promise.all(workers.map((worker) => ask(worker, {type: 'run', pixels, n})));
  const wall = performance.now() - timed;
  workers.forEach((worker) => worker.terminate());
  return {loadMs: loaded - start, perPhotoMs: wall / (k * n), detail};
}"""

# The graph on batches of copies of one photo, on the page's thread; ms per photo, first run left out.
BATCHES = """async ([values, size, sizes, reps]) => {
  const {load} = await import('./skinlens.js');
  const {clinicalVector} = await import('./metadata.js');
  const {metadata} = await load('model/', {backends: ['wasm']});
  const graph = await tf.loadGraphModel('model/model.json');
  const names = ['probabilities', 'cam', 'feature_distance'].filter((k) => metadata.outputs[k])
    .map((k) => metadata.outputs[k]);
  const photo = tf.tensor4d(Float32Array.from(values), [1, size, size, 3]);
  const out = {};
  for (const batch of sizes) {
    const feeds = {[metadata.input.name]: tf.concat(Array(batch).fill(photo))};
    if (metadata.clinical) {
      feeds[metadata.clinical.name] = tf.tensor2d(Array(batch).fill(clinicalVector({}, metadata).vector));
    }
    out[batch] = [];
    for (let rep = 0; rep <= reps; rep++) {
      const start = performance.now();
      const results = graph.execute(feeds, names);
      await Promise.all(results.map((t) => t.data()));
      if (rep) out[batch].push((performance.now() - start) / batch);
      tf.dispose(results);
    }
    tf.dispose(Object.values(feeds));
  }
  return out;
}"""

# The graph on one photo with the wasm backend started here: `threads` threads (null: the build's choice),
# ms per photo of `reps` runs after `warmups`. Answers crossOriginIsolated at once, and leaves the rest in
# window.benchResult (window.benchStarted once the backend has started: a build whose workers are refused
# hangs).
GRAPH = """([values, size, threads, reps, warmups]) => {
  (async () => {
    const {clinicalVector, fetchMetadata} = await import('./metadata.js');
    const metadata = await fetchMetadata(new URL('model/', location.href));
    tf.wasm.setWasmPaths(new URL('vendor/tfjs/', location.href).href);
    if (threads !== null) tf.wasm.setThreadsCount(threads);
    if (!await tf.setBackend('wasm')) throw new Error('the wasm backend failed to start');
    window.benchStarted = true;
    const build = {threadedBuild: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
      simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), threads: tf.wasm.getThreadsCount()};
    const graph = await tf.loadGraphModel('model/model.json');
    const names = ['probabilities', 'cam', 'feature_distance'].filter((k) => metadata.outputs[k])
      .map((k) => metadata.outputs[k]);
    const feeds = {[metadata.input.name]: tf.tensor4d(Float32Array.from(values), [1, size, size, 3])};
    if (metadata.clinical) feeds[metadata.clinical.name] = tf.tensor2d([clinicalVector({}, metadata).vector]);
    const times = [];
    for (let rep = 0; rep < warmups + reps; rep++) {
      const start = performance.now();
      const results = graph.execute(feeds, names);
      await Promise.all(results.map((t) => t.data()));
      if (rep >= warmups) times.push(performance.now() - start);
      tf.dispose(results);
    }
    return {...build, times};
  })().then((result) => { window.benchResult = result; },
    (error) => { window.benchResult = {error: `${error.message ?? error}`}; });
  return crossOriginIsolated;
}"""

# The CSP relaxations tried for the threaded build, in order: directives that get blob:.
RELAXATIONS = [(), ("worker-src",), ("script-src",), ("worker-src", "script-src")]

# A page with the app's own CSP (copied from index.html) and its TensorFlow.js bundles, but not the app,
# whose loading and self-test would share the CPU with what is measured.
PAGE = """<!doctype html><html><head><meta charset="utf-8">{csp}
<script src="vendor/tfjs/tf-core.min.js"></script><script src="vendor/tfjs/tf-backend-cpu.min.js"></script>
<script src="vendor/tfjs/tf-backend-wasm.min.js"></script><script src="vendor/tfjs/tf-converter.min.js"></script>
</head><body></body></html>"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Time batched inference and dedicated workers in Chromium.")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of 1 then 2 workers, or of the builds (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=6, help="photos per worker per round (default: %(default)s)")
    parser.add_argument("--reps", type=int, help="timed runs per batch size (default: 4), or per build (10)")
    parser.add_argument("--threaded", action="store_true",
                        help="compare the threaded wasm build with the single-threaded one instead")
    parser.add_argument("--limit", type=float, default=20,
                        help="--threaded: seconds the wasm backend may take to start (default: %(default)s)")
    parser.add_argument("--chromium", default=os.environ.get("SKINLENS_CHROMIUM", "/usr/bin/chromium"),
                        help="Chromium to drive (default: $SKINLENS_CHROMIUM or %(default)s)")
    return parser.parse_args(argv)


def relax(policy, directives):
    """`policy` (a CSP) with blob: added to each of `directives`."""
    parts = [part.strip() for part in policy.split(";")]
    return "; ".join(f"{part} blob:" if part.split()[0] in directives else part for part in parts)


def with_csp(wsgi_app, policies, reports):
    """`wsgi_app` answering each path in `policies` with that CSP header instead of its own, and taking the
    violation reports its report-uri sends (POST /csp-report, which the app itself refuses) into `reports`.
    Reports also come from the page's workers, whose console messages Playwright does not pass on."""
    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ.get("PATH_INFO") == "/csp-report":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            reports.append(json.loads(body).get("csp-report", {}))
            start_response("204 No Content", [])
            return []
        policy = policies.get(environ.get("PATH_INFO"))

        def start(status, headers, exc_info=None):
            if policy:
                headers = [(name, value) for name, value in headers if name.lower() != "content-security-policy"]
                headers.append(("Content-Security-Policy", policy))
            return start_response(status, headers, exc_info)
        return wsgi_app(environ, start)
    return app


def graph_time(browser, url, args, values, size, threads, cores=None, reports=()):
    """GRAPH in a fresh browser context at `url`, whose navigator.hardwareConcurrency is `cores` if given.

    Returns its result, with `isolated` (crossOriginIsolated), `error` when the backend did not start
    within --limit seconds, `console`: the CSP violations the page logged (each once: Chromium logs them
    twice), `reports`: those of `reports` that came in meanwhile, and `workerErrors`: the errors its pthread
    workers sent (which the build relays to the page's console).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context()
    if cores:
        context.add_init_script(
            f"Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', {{get: () => {cores}}})")
    page = context.new_page()
    console, worker_errors, before = [], [], len(reports)

    def hear(message):
        if "Content Security Policy" in message.text:
            console.append(message.text)
        elif "worker sent an error" in message.text:
            worker_errors.append(message.text)
    page.on("console", hear)
    page.goto(url)
    isolated = page.evaluate(GRAPH, [values, size, threads, args.reps, 3])
    try:
        page.wait_for_function("() => window.benchStarted || window.benchResult", timeout=args.limit * 1000)
        result = page.wait_for_function("() => window.benchResult", timeout=600_000).json_value()
    except PlaywrightTimeout:
        result = {"error": f"the wasm backend did not start within {args.limit:g} s"}
    page.wait_for_timeout(1000)  # for the last violation reports
    context.close()
    return {**result, "isolated": isolated, "console": list(dict.fromkeys(console)), "reports": reports[before:],
            "workerErrors": worker_errors}


def directives_violated(messages):
    """The CSP directives named in violation messages, e.g. ["worker-src 'self'"], without repeats."""
    found = [re.search(r'directive:? "([^"]+)"', text) for text in messages]
    return sorted({match.group(1) for match in found if match})


def in_words(result):
    """The CSP violations of a graph_time result in words: in the page's console, and reported."""
    directives = [report.get("violated-directive") or report.get("effective-directive") for report in result["reports"]]
    said = ", ".join(f"{directives.count(name)} {name}" for name in dict.fromkeys(directives))
    named = ", ".join(directives_violated(result["console"]))
    return (f"CSP violations: {len(result['console'])} in the page's console{f' ({named})' if named else ''}, "
            f"{len(directives)} reported{f' ({said})' if said else ''}")


def compare_builds(browser, url, isolated_url, reports, args, values, size):
    """--threaded: find the CSP the threaded build needs, then time it against the single-threaded build."""
    context = browser.new_context()
    cores = context.new_page().evaluate("navigator.hardwareConcurrency")
    context.close()
    print(f"Chromium {browser.version}, {os.cpu_count()} CPU cores (navigator.hardwareConcurrency {cores}), "
          "the graph on 1 photo, wasm")
    needed = None
    for directives in RELAXATIONS:
        result = graph_time(browser, f"{isolated_url}bench-{'-'.join(directives) or 'app'}.html", args, values,
                            size, 2, cores=4, reports=reports)
        what = ", ".join(f"{name} blob:" for name in directives) or "the app's CSP"
        outcome = (f"runs ({result['threads']} threads, {statistics.median(result['times']):.0f} ms per photo)"
                   if "times" in result else result["error"])
        print(f"threaded build (*), crossOriginIsolated {result['isolated']}, {what}: {outcome}; {in_words(result)}")
        errors = [re.sub(r"blob:\S+", "blob:...", text) for text in result["workerErrors"]]
        for text in dict.fromkeys(errors):
            print(f"    {errors.count(text)} pthread workers: {text}")
        if "times" in result:
            needed = directives
            break
    if needed is None:
        print("The threaded build ran under none of these CSPs.")
        return
    relaxed = f"{isolated_url}bench-{'-'.join(needed) or 'app'}.html"
    builds = [("SIMD, not isolated, app's CSP", url + "bench.html", None, None),
              ("threaded SIMD, its choice", relaxed, None, None), ("threaded SIMD, 1 thread", relaxed, 1, None),
              ("threaded SIMD, 2 threads (*)", relaxed, 2, 4)]
    console = reported = 0
    for round_ in range(args.rounds):
        for label, address, threads, cores in builds if round_ % 2 == 0 else builds[::-1]:
            result = graph_time(browser, address, args, values, size, threads, cores, reports)
            console, reported = console + len(result["console"]), reported + len(result["reports"])
            if "times" not in result:
                print(f"round {round_ + 1}, {label:29}: {result['error']}; {in_words(result)}")
                continue
            times = result["times"]
            print(f"round {round_ + 1}, {label:29}: {statistics.median(times):6.0f} ms per photo "
                  f"(median of {len(times)}, {min(times):.0f} to {max(times):.0f}); "
                  f"{'threaded' if result['threadedBuild'] else 'plain'} build, {result['threads']} "
                  f"thread{'s' if result['threads'] > 1 else ''}, crossOriginIsolated {result['isolated']}, "
                  f"CSP violations {len(result['console'])} in the console, {len(result['reports'])} reported")
    print("(*) 2 threads asked (setThreadsCount), the page told navigator.hardwareConcurrency is 4: the build "
          "uses at most half of it")
    print(f"CSP relaxation the threaded build needs: {', '.join(f'{name} blob:' for name in needed) or 'none'}; "
          f"CSP violations in the timed rounds: {console} in the console, {reported} reported")


def main(argv=None):
    from playwright.sync_api import sync_playwright

    from trainer.images import prepare

    args = parse_args(argv)
    args.reps = args.reps or (10 if args.threaded else 4)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    size = 224
    pixels = np.round(prepare(ROOT / "tests" / "fixtures" / "images" / "ISIC_0024310.jpg", size, size))
    values = pixels.astype(np.uint8).ravel().tolist()
    launch = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as folder:
        web = Path(folder)
        for entry in WEB_ROOT.iterdir():
            (web / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        (web / "bench-worker.js").write_text(WORKER)
        csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">',
                        (WEB_ROOT / "index.html").read_text())
        (web / "bench.html").write_text(PAGE.format(csp=csp.group(0)))
        # The threaded build's pages, served cross-origin isolated, with the same relaxed CSP in both places.
        headers = {}
        for directives in RELAXATIONS:
            name = f"bench-{'-'.join(directives) or 'app'}.html"
            meta = f'<meta http-equiv="Content-Security-Policy" content="{relax(csp.group(1), directives)}">'
            (web / name).write_text(PAGE.format(csp=meta))
            headers["/" + name] = relax(CONTENT_SECURITY_POLICY, directives) + "; report-uri /csp-report"
        isolated, reports = create_app({"WEB_ROOT": str(web), "ISOLATE": True}), []
        isolated.wsgi_app = with_csp(isolated.wsgi_app, headers, reports)
        with serving(create_app({"WEB_ROOT": str(web)})) as url, serving(isolated) as isolated_url, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=launch)
            if args.threaded:
                compare_builds(browser, url, isolated_url, reports, args, values, size)
                browser.close()
                return
            page = browser.new_page()
            violations = []
            page.on("console", lambda message: violations.append(message.text)
                    if "Content Security Policy" in message.text else None)
            page.goto(url + "bench.html")
            print(f"Chromium {browser.version}, {os.cpu_count()} CPU cores, wasm, the app's CSP")
            for batch, times in page.evaluate(BATCHES, [values, size, [1, 4, 8], args.reps]).items():
                print(f"batch of {batch}: {statistics.median(times):6.0f} ms per photo (median of {args.reps})")
            for round_ in range(args.rounds):
                for k in (1, 2):
                    result = page.evaluate(WORKERS, [values, size, k, args.photos])
                    print(f"round {round_ + 1}, {k} worker{'s' if k > 1 else ' '}: {result['perPhotoMs']:6.0f} ms per "
                          f"photo of the batch, loaded in {result['loadMs']:5.0f} ms ({result['detail']})")
            print(f"CSP violations: {len(violations)}")
            browser.close()


if __name__ == "__main__":
    main()
