"""Browser test harness: web/ served two ways, a headless Chromium, and a page that fails the test on
any console error, CSP violation or request to another origin.

    python -m pytest tests/browser                      # the model in web/model/
    SKINLENS_WEB_OVERLAY=/tmp/out python -m pytest tests/browser

SKINLENS_WEB_OVERLAY names a folder whose entries (model/, golden/) stand in for web/'s, to test a
freshly converted model without copying it into the repository. SKINLENS_CHROMIUM names the Chromium
to drive (default /usr/bin/chromium when it exists, else Playwright's own).
"""

import contextlib
import functools
import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from browser_helpers import checked_page, open_app
from converter.precache import MANIFEST, staleness, write_manifest
from server import WEB_ROOT, create_app, serving

PAGES_PREFIX = "/skinlens/"


def overlay_web(dest: Path, overlay: Path) -> Path:
    """Builds in ``dest`` a web/ whose entries are symlinks, with ``overlay``'s entries in place of web/'s."""
    entries = {entry.name: entry for entry in WEB_ROOT.iterdir()}
    entries.update({entry.name: entry for entry in Path(overlay).iterdir()})
    for name, entry in entries.items():
        if name != MANIFEST:
            (dest / name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    write_manifest(dest)  # the offline copy's list of files, for this mix of them
    return dest


@pytest.fixture(scope="session", autouse=True)
def offline_manifest_is_current():
    """Every browser test errors at once, naming the files and the fix, when web/precache.json no longer lists
    web/'s files: the service worker would refuse the edited file, and a test waiting for the offline copy
    would wait for nothing (python -m converter.precache web --check, in seconds rather than a hang)."""
    stale = staleness(WEB_ROOT)
    if stale:
        pytest.fail(f"{stale} (the service worker refuses a file that does not match)", pytrace=False)


@pytest.fixture(scope="session")
def web_root(tmp_path_factory):
    """The folder the servers serve: web/, with SKINLENS_WEB_OVERLAY's entries in place of its own."""
    overlay = os.environ.get("SKINLENS_WEB_OVERLAY")
    root = overlay_web(tmp_path_factory.mktemp("web"), Path(overlay)) if overlay else WEB_ROOT
    if not (root / "model" / "metadata.json").is_file():
        pytest.skip("no model in web/model/: run the converter first, or set SKINLENS_WEB_OVERLAY")
    return root


@pytest.fixture(scope="session")
def metadata(web_root):
    return json.loads((web_root / "model" / "metadata.json").read_text())


@pytest.fixture(scope="session")
def app_url(web_root):
    """Base URL of server.py's app serving the web root."""
    with serving(create_app({"WEB_ROOT": str(web_root)})) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_root(tiny_web, tmp_path_factory):
    """web/ with the tiny float32 test model (tests/conftest.py's tiny_web) as its model."""
    return overlay_web(tmp_path_factory.mktemp("tiny_root"), tiny_web)


@pytest.fixture(scope="session")
def questions_root(tiny_questions_web, tmp_path_factory):
    """web/ with a tiny model trained with --questions (tests/conftest.py's tiny_questions_web) as its model."""
    return overlay_web(tmp_path_factory.mktemp("questions_root"), tiny_questions_web)


@pytest.fixture(scope="session")
def tiny_url(tiny_root):
    """Base URL of server.py's app serving web/ with the tiny float32 model."""
    with serving(create_app({"WEB_ROOT": str(tiny_root)})) as url:
        yield url


@pytest.fixture
def serve_web():
    """Serves another folder with server.py's app for one test: serve_web(folder) -> base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda folder: stack.enter_context(serving(create_app({"WEB_ROOT": str(folder)})))


class _PagesHandler(SimpleHTTPRequestHandler):
    """GitHub Pages stand-in: plain static files under /skinlens/, no security headers."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".json": "application/json", ".wasm": "application/wasm",
                      ".webmanifest": "application/manifest+json", ".png": "image/png"}

    def send_head(self):
        if not self.path.startswith(PAGES_PREFIX):
            self.send_error(404)
            return None
        self.path = self.path[len(PAGES_PREFIX) - 1:]
        return super().send_head()

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def _pages(folder):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_PagesHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{PAGES_PREFIX}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="session")
def pages_url(web_root):
    """Base URL of web/ under a sub-path, as GitHub Pages serves a project site."""
    with _pages(web_root) as url:
        yield url


@pytest.fixture
def serve_pages():
    """Serves another folder as GitHub Pages would (no headers, a sub-path) for one test: -> base URL."""
    with contextlib.ExitStack() as stack:
        yield lambda folder: stack.enter_context(_pages(folder))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("SKINLENS_CHROMIUM")
    if executable is None and Path("/usr/bin/chromium").exists():
        executable = "/usr/bin/chromium"
    # Chromium's sandbox cannot start as root (containers, CI); elsewhere keep it.
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, serve_web, serve_pages):
    """A fresh page; at teardown, fails on any console error, page error, CSP violation or request that
    left the origin of the page's own navigations (see browser_helpers.checked_page).
    It asks for serve_web and serve_pages so that their servers start before it and stop after it: a
    server stopped under an open page turns a request still under way into a console error."""
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        yield page


@pytest.fixture(scope="module")
def app_page(browser, app_url):
    """The shipped app, started once per module and test process, for the tests that call its modules' pure
    functions (imaging.js's decoding and preprocessing) or classify photos of their own and read only what
    that batch shows: each batch replaces the one before. None of them changes a setting (clinical answers,
    threads, the table's sort or filter, the window's size), so each finds the page as a fresh one would be but
    for the last batch. A page's start costs about 5 s of CPU (tfjs, the model, its self-test), and 43 of them
    in test_app.py were a tenth of the browser tests' time. Its console, CSP and origin checks (checked_page) run after the last of its tests."""
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        open_app(page, app_url)
        yield page
