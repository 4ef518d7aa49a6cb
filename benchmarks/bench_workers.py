"""Would a batch go faster in the browser with batched inference, or split between dedicated workers?

    .venv/bin/python benchmarks/bench_workers.py                 # about 2 min; --rounds 4 --photos 6

Measures the two designs issue 9 weighed, on web/'s model in Chromium under the app's own CSP, before
either was built into the page (neither is shipped: see "Speed" in the README):

- batched inference: the graph on a batch of 1, 4 and 8 copies of a photo, on the page's thread (wasm),
  milliseconds per photo;
- dedicated workers: k module workers loaded from a same-origin file (CSP `worker-src 'self'`: no
  relaxation, no cross-origin isolation), each importing the vendored TensorFlow.js bundles and
  skinlens.js and loading the model through `load`, then classifying `--photos` photos each through
  `classify`, all k at once: wall time per photo of the batch, for k = 1 and 2 in alternating rounds.

The worker file exists only in a temporary copy of web/ (symlinks) that this script serves. A benchmark,
not a test; on a busy machine the rounds differ widely, so all are printed.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import WEB_ROOT, create_app, serving  # noqa: E402

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

# A page with the app's own CSP (copied from index.html) and its TensorFlow.js bundles, but not the app,
# whose loading and self-test would share the CPU with what is measured.
PAGE = """<!doctype html><html><head><meta charset="utf-8">{csp}
<script src="vendor/tfjs/tf-core.min.js"></script><script src="vendor/tfjs/tf-backend-cpu.min.js"></script>
<script src="vendor/tfjs/tf-backend-wasm.min.js"></script><script src="vendor/tfjs/tf-converter.min.js"></script>
</head><body></body></html>"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Time batched inference and dedicated workers in Chromium.")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 1 then 2 workers (default: %(default)s)")
    parser.add_argument("--photos", type=int, default=6, help="photos per worker per round (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=4, help="timed runs per batch size (default: %(default)s)")
    parser.add_argument("--chromium", default=os.environ.get("SKINLENS_CHROMIUM", "/usr/bin/chromium"),
                        help="Chromium to drive (default: $SKINLENS_CHROMIUM or %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    from playwright.sync_api import sync_playwright

    from trainer.images import prepare

    args = parse_args(argv)
    size = 224
    pixels = np.round(prepare(ROOT / "tests" / "fixtures" / "images" / "ISIC_0024310.jpg", size, size))
    values = pixels.astype(np.uint8).ravel().tolist()
    launch = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as folder:
        web = Path(folder)
        for entry in WEB_ROOT.iterdir():
            (web / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        (web / "bench-worker.js").write_text(WORKER)
        csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', (WEB_ROOT / "index.html").read_text())
        (web / "bench.html").write_text(PAGE.format(csp=csp.group(0)))
        with serving(create_app({"WEB_ROOT": str(web)})) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=launch)
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
