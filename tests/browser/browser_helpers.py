"""Helpers shared by the browser tests: opening the app, adding files, copies of the web root with an
edited metadata.json, and a checked page for contexts the `page` fixture does not make (phone size).
"""

import collections
import contextlib
import json
import shutil
import weakref
from pathlib import Path
from urllib.parse import urlsplit

from converter.contract import stamp_version, version_name
from image_files import padded_jpeg  # noqa: F401 - for the browser tests, beside the other helpers
from converter.precache import MANIFEST, write_manifest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "images"
LESION = FIXTURES / "ISIC_0024310.jpg"
SCREENSHOTS = ROOT / "test-results" / "screenshots"

# How far the page's probabilities for a file may be from Python's (tests/browser/test_agreement.py).
# From files (11 fixtures: JPEG, PNG, EXIF-rotated, alpha, palette, gray, 16-bit, CMYK, 3200x2400):
# Pillow and Chromium both decode with libjpeg-turbo/libpng, and the resize is the same arithmetic,
# so the inputs agree to float rounding except a few alpha-edge pixels (±1 level, Skia vs our
# compositing; CMYK converted by Skia and by Pillow). Measured max |Δp|: 1.6e-6 (shipped, 8 views); the tiny
# model, retrained for every test session with a temperature near 0.25 that amplifies those level
# differences, 5.9e-5 in most sessions and 2.1e-4 in one (cmyk.jpg). Tolerance: ~2.4x the worst.
FILE_TOLERANCE = 5e-4

# How long a wait in the page may take unless its caller says otherwise: far above any ordinary wait here (the
# shipped model's start and self-test, a batch of 16 photos), even with the other test process training.
WAIT_MS = 90_000

# wait_in_page's loop. `check` is the caller's JavaScript function, put in the source: the page's CSP forbids
# eval, so Playwright's wait_for_function(expression) cannot run there, while page.evaluate's own function can.
# A check may return a promise (navigator.serviceWorker.ready): it is raced against the deadline too.
_WAIT_LOOP = """async ([arg, ms]) => {
  const check = %s;
  const deadline = Date.now() + ms;
  const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));
  const late = {};
  for (;;) {
    const left = deadline - Date.now();
    if (window.__skinlens?.uncaught) return {done: false, uncaught: window.__skinlens.uncaught};
    if (left <= 0) return {done: false};
    const value = await Promise.race([(async () => check(arg))(), sleep(left).then(() => late)]);
    if (value === late) return {done: false};
    if (value !== undefined && value !== null && value !== false) return {done: true, value};
    await sleep(50);
  }
}"""

# What the page shows and holds, for a wait that ran out: the status line, the page's skinlens:error (main.js),
# the offline line (it says which file the service worker refused) and the service worker's state.
_PAGE_STATE = """async () => {
  const text = (id) => document.getElementById(id)?.textContent?.trim() ?? null;
  const state = {url: location.href, status: text('status'),
                 statusState: document.getElementById('status')?.dataset.state ?? null,
                 error: window.__skinlens?.error ?? null, offline: text('offline'), threads: text('threads')};
  if ('serviceWorker' in navigator) {
    const registration = await Promise.race([navigator.serviceWorker.getRegistration(),
                                             new Promise((resolve) => setTimeout(resolve, 2000))]);
    const describe = (worker) => worker && `${worker.scriptURL.split('/').pop()} ${worker.state}`;
    state.serviceWorker = registration ? {installing: describe(registration.installing),
      waiting: describe(registration.waiting), active: describe(registration.active),
      controller: describe(navigator.serviceWorker.controller)} : 'not registered';
  }
  return state;
}"""

# The last console messages (and uncaught errors) of each page checked_page watches, its workers' included.
_CONSOLE = weakref.WeakKeyDictionary()


class PageWaitFailed(AssertionError):
    """A wait in the page ran out, or saw the page fail: says what was awaited, and what the page showed and
    said."""


def page_state(page) -> str:
    """The page's status line, error, offline line, service worker and last console messages, as one text."""
    try:
        state = page.evaluate(_PAGE_STATE)
    except Exception as error:  # a page that navigated, crashed or closed
        state = {"page": f"could not be read: {error}"}
    lines = [f"  {key}: {value}" for key, value in state.items() if value not in (None, "")]
    console = list(_CONSOLE.get(page, ()))
    lines += ["  last console messages:"] + [f"    {message}" for message in console] if console else []
    return "\n".join(lines)


def wait_in_page(page, check: str, arg=None, *, what: str, timeout_ms: int = WAIT_MS):
    """Polls the JavaScript function `check` (called with `arg`, every 50 ms) in the page until it returns a
    value other than undefined, null or false, and returns that value. After `timeout_ms` it fails with
    PageWaitFailed: `what` was awaited, and page_state(). It fails at once when the page has thrown an
    uncaught error (EVENT_RECORDER), which would fail the test anyway. Every wait of the browser tests goes
    through here, so a page that never gets ready, a batch that never ends or a worker that never answers
    fails in its time and says why, instead of holding the suite until CI's limit."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        result = page.evaluate(_WAIT_LOOP % check, [arg, timeout_ms])
    except PlaywrightError as error:  # the check threw: it saw the page fail (or the page went away)
        raise PageWaitFailed(f"while the test waited for {what}: {error.message.splitlines()[0]}; "
                              f"the page:\n{page_state(page)}") from None
    if result.get("uncaught"):
        raise PageWaitFailed(f"the page threw while the test waited for {what}: {result['uncaught']}; "
                              f"the page:\n{page_state(page)}")
    if not result["done"]:
        raise PageWaitFailed(f"waited {timeout_ms / 1000:g} s for {what}; the page:\n{page_state(page)}")
    return result["value"]


# The next batch the page announces (EVENT_RECORDER), taken, so that the next call waits for a new one.
BATCH_OF = """(count) => {
  if (!(window.__skinlens.batch?.length >= count && document.getElementById('status').dataset.state === 'ready')) {
    return null;
  }
  const batch = window.__skinlens.batch;
  window.__skinlens.batch = null;
  return batch;
}"""


def wait_for_results(page, count, timeout_ms=WAIT_MS):
    """The page's results (main.js PageResults) once a batch of at least `count` photos has been classified."""
    return wait_in_page(page, BATCH_OF, count, what=f"the results of {count} photo(s)", timeout_ms=timeout_ms)


def wait_for_offline_copy(page, timeout_ms=WAIT_MS):
    """Waits until sw.js has copied the app and controls the page (it claims it on activation, without a
    reload): returns {script, scope} of the active worker."""
    return wait_in_page(page, """async () => {
      const offline = document.getElementById('offline')?.textContent ?? '';
      if (offline.startsWith('offline copy not installed')) throw new Error(`the page says: ${offline}`);
      const registration = await Promise.race([navigator.serviceWorker.ready,
                                               new Promise((resolve) => setTimeout(resolve, 500))]);
      return registration && navigator.serviceWorker.controller &&
        {script: registration.active.scriptURL, scope: registration.scope};
    }""", what="the service worker to copy the app and control the page", timeout_ms=timeout_ms)


# Records what the page announces on `document` (main.js: skinlens:ready, :result, :batch, :error, :model)
# in window.__skinlens, for the tests: the page itself puts nothing on window.
EVENT_RECORDER = """
window.__skinlens = {ready: null, error: null, batch: null, model: null, results: [], uncaught: null};
// The page's first uncaught error or unhandled rejection: wait_in_page stops at it (checked_page fails on it).
window.addEventListener('error', (event) => { window.__skinlens.uncaught ??= String(event.error ?? event.message); });
window.addEventListener('unhandledrejection', (event) => {
  window.__skinlens.uncaught ??= `unhandled rejection: ${event.reason}`;
});
document.addEventListener('skinlens:ready', (event) => { window.__skinlens.ready = event.detail; });
document.addEventListener('skinlens:model', (event) => { window.__skinlens.model = event.detail; });
document.addEventListener('skinlens:error', (event) => { window.__skinlens.error = event.detail; });
document.addEventListener('skinlens:result', (event) => { window.__skinlens.results.push(event.detail); });
document.addEventListener('skinlens:batch', (event) => { window.__skinlens.batch = event.detail.results; });
"""

# Loads the model through the documented module API (web/skinlens.js), once per page, as another page
# embedding SkinLens would; `options` go to load() (e.g. {backends: ['cpu']}).
LOAD_MODEL = """async (options) => {
  window.__model ??= await (await import('./skinlens.js')).load('model/', options ?? {});
  return {version: window.__model.version, backend: window.__model.backend};
}"""


def as_base64(array) -> str:
    """An array's bytes (uint8 pixels) as base64, for page.evaluate: Playwright sends and returns a long list of
    numbers one wrapped value at a time, about 1.3 s for a 224 px photo's 150,528 values; a string in
    milliseconds. The page reads it with FROM_BASE64."""
    import base64

    return base64.b64encode(array.tobytes()).decode()


# In the page: the Uint8Array of as_base64's string, and a typed array's bytes as base64 (for np.frombuffer).
FROM_BASE64 = "(b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))"
TO_BASE64 = """(typed) => {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}"""


def probabilities(result):
    """A result's probabilities in metadata.classes order (None for a file that could not be read)."""
    return None if result["classes"] is None else [c["probability"] for c in result["classes"]]


# Reports every CSP violation of every page of a context to Python (checked_page exposes the function),
# and keeps them in the page too, for a violation whose report is still in flight when the test ends.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  const text = `${location.pathname}: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`;
  window.__cspViolations.push(text);
  window.__skinlensCspViolation?.(text);
});
"""


# The pure-JavaScript "cpu" backend (the last fallback, for browsers without WebAssembly or WebGL) runs
# the 8-view model in about 14 s a photo here (benchmarks/bench_browser.py; 0.4 s in wasm): its load (a warm-up
# pass) and a self-test need far longer than the other waits.
CPU_BACKEND_TIMEOUT_MS = 240_000


# main.js's skinlens:ready (sent once the self-test, which runs right after the page is ready, has finished)
# or skinlens:error, with the status line no longer loading.
STARTED = """() => document.getElementById('status')?.dataset.state !== 'loading' &&
  Boolean(window.__skinlens.ready || window.__skinlens.error)"""


def wait_until_ready(page, timeout=None):
    """Waits until the page is ready and its self-test has run (skinlens:ready), or it failed to start."""
    wait_in_page(page, STARTED, what="the page to start (skinlens:ready or skinlens:error)",
                 timeout_ms=timeout or WAIT_MS)


def open_app(page, url):
    """Opens the page and waits until the model is loaded and self-tested; fails with the page's message if
    it did not start or its self-test failed."""
    page.goto(url)
    wait_until_ready(page)
    assert page.get_attribute("#status", "data-state") == "ready", page.inner_text("#status")


def choose(page, files):
    """Chooses files in the file input and returns the page's results (main.js PageResults) once all
    are classified."""
    page.set_input_files("#files", files)
    return wait_for_results(page, len(files))


# The page's line "batches on N threads" (main.js showThreads): the workers have loaded, passed their
# self-test, and take photos from the next batch (or single photo) on.
THREADS_LINE = """(count) => {
  const line = document.getElementById('threads').textContent;
  return line.startsWith(`batches on ${count} thread`) && line;
}"""


def start_workers(page, threads):
    """On an open app with ?threads=`threads`, returns the page's threads line once its inference workers
    are ready: the page starts one itself once its self-test has passed (main.js warmWorker), and a first
    batch of pool.js MIN_BATCH photos, classified here when more are asked for, starts the rest."""
    if threads > 2:
        first = page.evaluate("async () => (await import('./pool.js')).MIN_BATCH")
        choose(page, [LESION] * first)
    return wait_for_threads(page, threads)


def wait_for_threads(page, count):
    """The page's threads line once it says "batches on `count` threads"."""
    return wait_in_page(page, THREADS_LINE, count, what=f"batches on {count} threads (the inference workers)")


def fill_clinical(page, age="", sex="", site="", **questions):
    """Answers the optional clinical fields ("" leaves one blank), and the questions about the spot given
    (e.g. grown="yes"), for a model that asks them."""
    page.fill("#clinical-age", str(age))
    page.select_option("#clinical-sex", sex)
    page.select_option("#clinical-site", site)
    for name, answer in questions.items():
        page.select_option(f"#clinical-{name}", answer)


def unfold_cards(page):
    """Opens every folded card of a batch (results.js folds them when more than one photo is classified)."""
    page.evaluate("() => document.querySelectorAll('details.result-fold').forEach((fold) => { fold.open = true; })")


def upload(path, data=None):
    """A file for set_input_files, from disk or from bytes (Playwright does not mix the two)."""
    path = Path(path)
    return {"name": path.name, "mimeType": "application/octet-stream",
            "buffer": path.read_bytes() if data is None else data}


def web_with_metadata(web_root, dest, edit, stamp=True):
    """A copy of the web root (symlinks) whose model/metadata.json is ``edit(metadata)``'s return value,
    re-stamped with the version of its new content (as the converter would) unless ``stamp`` is False,
    with the offline manifest (precache.json) rewritten to match."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    for entry in Path(web_root).iterdir():
        if entry.name != "model":
            (dest / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    model = dest / "model"
    model.mkdir()
    for entry in (Path(web_root) / "model").iterdir():
        if entry.name != "metadata.json":
            (model / entry.name).symlink_to(entry.resolve())
    metadata = json.loads((Path(web_root) / "model" / "metadata.json").read_text())
    edited = edit(metadata)
    if stamp:
        edited = stamp_version(edited, version_name(edited))
    (model / "metadata.json").write_text(json.dumps(edited))
    (dest / MANIFEST).unlink(missing_ok=True)
    write_manifest(dest)
    return dest


def web_with_file(web_root, dest, source, name):
    """A copy of the web root (symlinks) with one more file, e.g. axe-core for the accessibility tests."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    for entry in Path(web_root).iterdir():
        (dest / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    shutil.copyfile(source, dest / name)
    (dest / MANIFEST).unlink(missing_ok=True)
    write_manifest(dest)
    return dest


@contextlib.contextmanager
def checked_page(browser, **context_options):
    """A page in a new context, failing at exit on any console error, uncaught error or CSP violation in
    any page of the context (a second page a test opens, one it closed before the end) or its workers, or
    any request to another origin (service-worker and worker requests included)."""
    context = browser.new_context(**context_options)
    # Playwright's own waits (wait_for_selector, click, …) get wait_in_page's deadline, not its 30 s default: the
    # shipped model's start took longer once on a loaded machine (a land-check beside other tests).
    context.set_default_timeout(WAIT_MS)
    requests, errors, violations, watched = [], [], [], []

    def watch(page):
        if page in watched:
            return
        watched.append(page)
        said = _CONSOLE.setdefault(page, collections.deque(maxlen=12))  # for page_state

        def on_console(source, message):
            if message.type not in ("verbose", "debug"):
                said.append(f"[{source.url.split('/')[-1] or '/'} {message.type}] {message.text}")
            if message.type == "error":
                errors.append(f"{source.url}: {message.text}")

        def on_error(error):
            said.append(f"[uncaught] {error}")
            errors.append(f"{page.url}: uncaught: {error}")

        page.on("console", lambda message: on_console(page, message))
        page.on("pageerror", on_error)
        # pool.js's inference workers: their console errors (CSP refusals among them) count as the page's.
        page.on("worker", lambda worker: worker.on("console", lambda message: on_console(worker, message)))

    context.expose_function("__skinlensCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_LISTENER + EVENT_RECORDER)
    context.on("page", watch)
    context.on("request", lambda request: requests.append(request))
    page = context.new_page()
    watch(page)
    try:
        yield page
        for open_page in context.pages:
            violations += [v for v in open_page.evaluate("window.__cspViolations ?? []") if v not in violations]
    finally:
        context.close()
    origins = {urlsplit(r.url)[:2] for r in requests if r.is_navigation_request()}
    foreign = [r.url for r in requests
               if urlsplit(r.url).scheme not in ("data", "blob") and urlsplit(r.url)[:2] not in origins]
    problems = [f"{kind}: {found}" for kind, found in (("console errors", errors), ("CSP violations", violations),
                                                        ("requests to another origin", foreign)) if found]
    assert not problems, "; ".join(problems)
