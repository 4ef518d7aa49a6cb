"""A batch on every core (web/pool.js): the page's thread and same-origin inference workers share a batch's
photos, every photo once, shown in the order chosen, with Python's probabilities; a worker that breaks
gives its photos back and the batch ends all the same.

    python -m pytest tests/browser/test_pool.py -q
"""

import json

import numpy as np
import pytest
from browser_helpers import (FILE_TOLERANCE, FIXTURES, LESION, checked_page, choose, open_app, probabilities,
                             start_workers, web_with_metadata)

from trainer.predict import Predictor

pytestmark = pytest.mark.browser

IMAGES = ["ISIC_0024306.jpg", "ISIC_0024310.jpg", "ISIC_0024331.jpg", "png_rgb.png", "exif_rotated.jpg",
          "not_an_image.jpg", "alpha.png", "grayscale.jpg", "gray16.png", "cmyk.jpg", "palette.png"]

def test_page_and_worker_share_a_batch_in_order_with_pythons_answers(page, app_url, web_root):
    open_app(page, f"{app_url}?threads=2")
    assert start_workers(page, 2) == "batches on 2 threads (the page and 1 worker)"
    results = choose(page, [FIXTURES / name for name in IMAGES])
    assert [r["file"] for r in results] == IMAGES  # in the order chosen, every photo once
    assert {r["thread"] for r in results} == {"page", "worker 1"}, [r["thread"] for r in results]
    assert "classified on 2 threads" in page.inner_text("#status")
    assert page.locator("#results .result .file-name").all_text_contents() == IMAGES

    expected = Predictor(web_root / "model").predict_files([str(FIXTURES / name) for name in IMAGES])
    for name, result, (_, python, error) in zip(IMAGES, results, expected):
        if error is not None:  # not_an_image.jpg: the same refusal wherever it was read
            assert result["code"] == "not-an-image" and result["classes"] is None, (name, result["thread"])
            continue
        np.testing.assert_allclose(probabilities(result), python, atol=FILE_TOLERANCE,
                                   err_msg=f"{name} on {result['thread']}")


# A worker with a planted fault: its photo number FAILING fails as a bug would (not as the photo's
# fault), which takes the worker out of the pool; the others are answered. The real worker runs under
# another name.
BREAKING_WORKER = """import './inference-worker-real.js';
const post = self.postMessage.bind(self);
let answered = 0;
self.postMessage = (message, transfer) => {
  if (message.type === 'result' && ++answered === FAILING) {
    post({type: 'result', id: message.id, error: {name: 'Error', code: null, message: 'planted fault'}});
  } else {
    post(message, transfer);
  }
};
"""


def _breaking_web(web_root, folder, failing):
    """A copy of web/ whose worker fails its photo number `failing` (BREAKING_WORKER)."""
    return _wrapped_worker_web(web_root, folder, BREAKING_WORKER.replace("FAILING", str(failing)))


def _wrapped_worker_web(web_root, folder, wrapper):
    """A copy of web/ whose inference-worker.js is `wrapper`, which imports the real one under another name."""
    web = web_with_metadata(web_root, folder, lambda metadata: metadata)
    (web / "inference-worker-real.js").symlink_to((web_root / "inference-worker.js").resolve())
    (web / "inference-worker.js").unlink()
    (web / "inference-worker.js").write_text(wrapper)
    return web


# The real worker, its 'loaded' message said on the console as well (selfTest and all).
TELLING_WORKER = """import './inference-worker-real.js';
const post = self.postMessage.bind(self);
self.postMessage = (message, transfer) => {
  if (message.type === 'loaded') console.info(`loaded ${JSON.stringify(message)}`);
  post(message, transfer);
};
"""


def test_the_warm_worker_checks_its_copy_of_the_model_on_the_first_golden_image(browser, web_root, serve_web,
                                                                                 tmp_path, metadata):
    """The page checks every golden image before it starts a worker; the worker, which decodes no photo of
    the user's, checks its own copy of the model on the first one (every operation of the graph, every view),
    not all of them again while the person chooses a photo."""
    if not metadata["golden"]:
        pytest.skip("metadata.json lists no golden images")
    web = _wrapped_worker_web(web_root, tmp_path / "web", TELLING_WORKER)
    with checked_page(browser) as page:
        said = []
        page.on("worker", lambda worker: worker.on("console", lambda message: said.append(message.text)))
        open_app(page, f"{serve_web(web)}?threads=2")
        assert page.evaluate("window.__skinlens.ready.selfTest.checked") == len(metadata["golden"])
        assert start_workers(page, 2) == "batches on 2 threads (the page and 1 worker)"
        [loaded] = [json.loads(text.removeprefix("loaded ")) for text in said if text.startswith("loaded ")]
        test = loaded["selfTest"]
        assert test["passed"] and test["checked"] == 1 and test["cases"] == len(metadata["golden"])
        assert test["maxDifference"] <= test["tolerance"]


def test_a_worker_that_breaks_gives_its_photos_back(browser, web_root, serve_web, tmp_path):
    web = _breaking_web(web_root, tmp_path / "web", failing=2)
    names = [name for name in IMAGES if name != "not_an_image.jpg"][:8]
    with checked_page(browser) as page:
        warnings = []
        page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
        open_app(page, f"{serve_web(web)}?threads=2")
        start_workers(page, 2)
        results = choose(page, [FIXTURES / name for name in names])
        assert [r["file"] for r in results] == names
        assert all(r["error"] is None for r in results)
        threads = [r["thread"] for r in results]
        assert threads.count("worker 1") == 1 and threads.count("page") == len(names) - 1, threads
        assert page.text_content("#threads") == ("batches on 1 thread (1 worker could not start or stopped: "
                                               "see the browser console)")
        assert any("worker 1 not used: it could not classify a photo (planted fault)" in w for w in warnings)
        # The next batch runs on the page's thread alone.
        again = choose(page, [FIXTURES / name for name in names[:4]])
        assert {r["thread"] for r in again} == {"page"}


# runQueue alone, with stand-in threads: `plan` says, per thread, when it is ready (ms, or false for
# never) and which of its items fail as a broken worker's do.
RUN_QUEUE = """async (plan) => {
  const {WorkerFailure, runQueue} = await import('./pool.js');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const done = [];
  const threads = plan.map(({name, readyAfter, failOn = [], depth = 1}) => ({
    name, depth,
    ready: readyAfter === false ? Promise.resolve(false) : sleep(readyAfter).then(() => true),
    async run(item) {
      await sleep(10);
      if (failOn.includes(item)) throw new WorkerFailure(`${name} broke on ${item}`);
      done.push([item, name]);
    },
  }));
  await runQueue([...Array(12).keys()], threads, (item, thread) => thread.run(item));
  return done;
}"""


@pytest.mark.parametrize("plan", [
    [{"name": "page", "readyAfter": 0}],
    [{"name": "page", "readyAfter": 0}, {"name": "w1", "readyAfter": 25, "depth": 2},
     {"name": "w2", "readyAfter": False}],
    # A worker breaking on two items it holds at once, and one breaking after the page has run out.
    [{"name": "page", "readyAfter": 0}, {"name": "w1", "readyAfter": 0, "depth": 2, "failOn": [4, 5]},
     {"name": "w2", "readyAfter": 5, "failOn": [11]}],
], ids=["page alone", "a worker joins late, one never", "workers break"])
def test_run_queue_does_every_item_once(page, app_url, plan):
    page.goto(f"{app_url}model-card.html")
    done = page.evaluate(RUN_QUEUE, plan)
    assert sorted(item for item, _ in done) == list(range(12)), done  # each item once, none lost
    by = dict(done)
    for thread in plan:
        if thread["readyAfter"] is False:
            assert thread["name"] not in by.values()  # never ready: never given an item
        for item in thread.get("failOn", []):
            assert by[item] != thread["name"]  # a failed item was done again, by another thread
    if len(plan) > 1 and "failOn" not in plan[1]:
        assert "w1" in by.values()  # a worker that joins late still takes items


def test_a_single_photo_whose_worker_breaks_is_classified_on_the_page(browser, web_root, serve_web, tmp_path):
    """One photo goes to the warm worker; when that worker breaks on it, the page's thread classifies it
    (from its own copy of the pixels), with Python's answer, and the next photo stays on the page."""
    web = _breaking_web(web_root, tmp_path / "web", failing=1)
    with checked_page(browser) as page:
        open_app(page, f"{serve_web(web)}?threads=2")
        assert start_workers(page, 2) == "batches on 2 threads (the page and 1 worker)"
        [first] = choose(page, [LESION])
        [again] = choose(page, [LESION])
        assert first["error"] is None and (first["thread"], again["thread"]) == ("page", "page")
        [(_, python, _)] = Predictor(web_root / "model").predict_files([str(LESION)])
        np.testing.assert_allclose(probabilities(first), python, atol=FILE_TOLERANCE)
        assert page.text_content("#threads").startswith("batches on 1 thread (1 worker could not start or stopped")
