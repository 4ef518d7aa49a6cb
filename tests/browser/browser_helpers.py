"""Helpers shared by the browser tests: opening the app, adding files, copies of the web root with an
edited metadata.json, and a checked page for contexts the `page` fixture does not make (phone size).
"""

import contextlib
import json
import shutil
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "images"
LESION = FIXTURES / "ISIC_0024310.jpg"
SCREENSHOTS = ROOT / "test-results" / "screenshots"

# Polls in the page (Playwright's wait_for_function would need eval, which the CSP forbids).
WAIT_FOR_RESULTS = """async (count) => {
  const done = () => window.skinlens.lastResults.length >= count &&
    document.getElementById('status').dataset.state === 'ready';
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 50));
  return window.skinlens.lastResults;
}"""

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
# the 8-view model in about 14 s a photo here (benchmarks/bench_browser.py; 0.4 s in wasm); ready means warm-up plus the self-test's 3
# golden photos, so it needs far longer than Playwright's default 30 s.
CPU_BACKEND_TIMEOUT_MS = 240_000


def open_app(page, url):
    """Opens the page and waits until the model is loaded; fails with the page's message if it did not."""
    page.goto(url)
    page.wait_for_selector("#status:not([data-state=loading])")
    assert page.get_attribute("#status", "data-state") == "ready", page.inner_text("#status")


def choose(page, files):
    """Chooses files in the file input and returns the page's results once all are classified."""
    page.set_input_files("#files", files)
    return page.evaluate(WAIT_FOR_RESULTS, len(files))


def upload(path, data=None):
    """A file for set_input_files, from disk or from bytes (Playwright does not mix the two)."""
    path = Path(path)
    return {"name": path.name, "mimeType": "application/octet-stream",
            "buffer": path.read_bytes() if data is None else data}


def web_with_metadata(web_root, dest, edit):
    """A copy of the web root (symlinks) whose model/metadata.json is ``edit(metadata)``'s return value.

    metadata.json carries no checksum of its own, so this is how tests give the page other thresholds.
    """
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
    (model / "metadata.json").write_text(json.dumps(edit(metadata)))
    return dest


def web_with_file(web_root, dest, source, name):
    """A copy of the web root (symlinks) with one more file, e.g. axe-core for the accessibility tests."""
    dest = Path(dest)
    dest.mkdir(parents=True)
    for entry in Path(web_root).iterdir():
        (dest / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    shutil.copyfile(source, dest / name)
    return dest


@contextlib.contextmanager
def checked_page(browser, **context_options):
    """A page in a new context, failing at exit on any console error, uncaught error or CSP violation in
    any page of the context (a second page a test opens, one it closed before the end), or any request
    to another origin (service-worker requests included)."""
    context = browser.new_context(**context_options)
    requests, errors, violations, watched = [], [], [], []

    def watch(page):
        if page in watched:
            return
        watched.append(page)
        page.on("console", lambda message: errors.append(f"{page.url}: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(f"{page.url}: uncaught: {error}"))

    context.expose_function("__skinlensCspViolation", lambda text: violations.append(text))
    context.add_init_script(CSP_LISTENER)
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
