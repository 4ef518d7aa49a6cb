"""The harness itself: checked_page (and so the `page` fixture) fails on errors in every page of its
context, not only the first. A test that opens a second page must not hide that page's problems.

    python -m pytest tests/browser/test_harness.py -q
"""

import subprocess
import sys
import time

import pytest

from browser_helpers import PageWaitFailed, ROOT, checked_page, open_app, start_workers, wait_in_page, web_with_file

pytestmark = pytest.mark.browser

# Inline script: forbidden by script-src, so the browser reports a violation and does not run it.
INLINE_SCRIPT = """() => {
  const script = document.createElement('script');
  script.textContent = 'window.ran = true';
  document.body.append(script);
}"""


def _second_page(page, url):
    second = page.context.new_page()
    second.goto(url)
    second.wait_for_load_state("load")
    return second


def test_a_clean_page_passes(browser, app_url):
    with checked_page(browser) as page:
        page.goto(f"{app_url}model-card.html")
        _second_page(page, f"{app_url}model-card.html")


def test_console_error_on_a_second_page_fails(browser, app_url):
    with pytest.raises(AssertionError, match="console errors: .*second page broke"):
        with checked_page(browser) as page:
            page.goto(f"{app_url}model-card.html")
            second = _second_page(page, f"{app_url}model-card.html")
            second.evaluate("console.error('second page broke')")


def test_uncaught_error_on_a_closed_page_fails(browser, app_url):
    with pytest.raises(AssertionError, match="uncaught: .*thrown later"):
        with checked_page(browser) as page:
            page.goto(f"{app_url}model-card.html")
            second = _second_page(page, f"{app_url}model-card.html")
            second.evaluate("() => new Promise((resolve) => { setTimeout(() => { throw new Error('thrown later'); }); "
                            "setTimeout(resolve, 50); })")
            second.close()


@pytest.mark.parametrize("keep_open", [True, False])
def test_csp_violation_on_a_second_page_fails(browser, app_url, keep_open):
    with pytest.raises(AssertionError, match="CSP violations: .*script-src"):
        with checked_page(browser) as page:
            page.goto(f"{app_url}model-card.html")
            second = _second_page(page, f"{app_url}model-card.html")
            second.evaluate(INLINE_SCRIPT)
            assert second.evaluate("window.ran") is None  # blocked
            second.evaluate("() => new Promise((resolve) => setTimeout(resolve, 50))")
            if not keep_open:
                second.close()


def test_console_error_in_a_worker_fails(browser, serve_web, web_root, tmp_path):
    web = web_with_file(web_root, tmp_path / "web", _write(tmp_path / "bad-worker.js",
                                                          "console.error('the worker broke');"), "bad-worker.js")
    with pytest.raises(AssertionError, match="console errors: .*bad-worker.js: the worker broke"):
        with checked_page(browser) as page:
            page.goto(f"{serve_web(web)}model-card.html")
            page.evaluate("() => new Promise((resolve) => { new Worker('bad-worker.js'); setTimeout(resolve, 500); })")


def _write(path, text):
    path.write_text(text)
    return path


def test_csp_violation_in_an_inference_worker_fails(browser, serve_web, web_root, tmp_path):
    """server.py gives the workers the app's CSP; inference-worker.js says each refusal on the console."""
    web = web_with_file(web_root, tmp_path / "web", web_root / "inference-worker.js", "worker-real.js")
    (web / "inference-worker.js").unlink()
    (web / "inference-worker.js").write_text(
        "import './worker-real.js';\nfetch('https://example.invalid/photo').catch(() => {});\n")
    with pytest.raises(AssertionError, match="console errors: .*CSP connect-src blocked https://example.invalid"):
        with checked_page(browser) as page:
            open_app(page, f"{serve_web(web)}?threads=2")
            start_workers(page, 2)


def test_a_server_for_one_test_stops_after_its_page(page, serve_web, tmp_path):
    """The `page` fixture closes before serve_web's servers stop. The other way round, a request still under way
    when the test ends fails on a stopped server, and the test errors at teardown with "Failed to load resource"
    (a CI run failed so: the page was still loading a file after saying why it refused a malformed metadata.json).
    Here the page asks for a file every 10 ms until it is closed."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<!doctype html><title>poll</title><link rel="icon" href="data:,">'
                                      '<script type="module" src="poll.js"></script>')
    (site / "poll.js").write_text("setInterval(() => fetch('poll.js', { cache: 'no-store' }).catch(() => {}), 10);\n")
    page.goto(serve_web(site))
    page.wait_for_function("() => performance.getEntriesByType('resource').length > 5")


@pytest.mark.parametrize("check", ["() => false", "() => new Promise(() => {})"], ids=["never true", "never settles"])
def test_a_wait_in_the_page_ends_at_its_deadline_with_what_the_page_showed(app_page, check):
    """wait_in_page fails at its deadline, for a condition that stays false and for a promise that never
    settles (navigator.serviceWorker.ready when the worker cannot install), naming what it waited for and
    showing the status line and the last console messages."""
    app_page.evaluate("console.warn('a clue on the console')")
    started = time.monotonic()
    with pytest.raises(PageWaitFailed) as failure:
        wait_in_page(app_page, check, what="something that never comes", timeout_ms=500)
    assert time.monotonic() - started < 10
    message = str(failure.value)
    assert message.startswith("waited 0.5 s for something that never comes; the page:")
    assert f"status: {app_page.text_content('#status').strip()}" in message
    assert "statusState: ready" in message and "serviceWorker: " in message
    assert "[/ warning] a clue on the console" in message


def test_a_wait_returns_what_the_check_found(app_page):
    app_page.evaluate("setTimeout(() => { window.later = {found: 42}; }, 200)")
    assert wait_in_page(app_page, "async (key) => window.later?.[key]", "found", what="window.later") == 42


def test_no_test_runs_past_its_limit(tmp_path):
    """The suite's limit (pytest-timeout, pyproject's `timeout`) is set, and it ends a test that hangs, naming
    it: here a test that sleeps a minute is stopped after 2 s."""
    import tomllib

    limit = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["timeout"]
    assert 0 < limit <= 600
    (tmp_path / "test_hang.py").write_text("import time\n\ndef test_that_hangs():\n    time.sleep(60)\n")
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_hang.py"), "-n", "0", "-q",
                          "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
                          "-o", "timeout=2"], capture_output=True, text=True, timeout=50, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert time.monotonic() - started < 40
    assert "Timeout (>2.0s) from pytest-timeout" in run.stdout, run.stdout
    assert "FAILED test_hang.py::test_that_hangs" in run.stdout, run.stdout


def test_a_wait_stops_at_the_first_uncaught_error(browser, app_url):
    """A page that throws (main.js failing before it is ready) fails the wait at once, with the error, rather
    than at the deadline: checked_page would fail the test on it anyway."""
    started = time.monotonic()
    with pytest.raises(PageWaitFailed, match="the page threw while the test waited for nothing: Error: boom"):
        with checked_page(browser) as page:
            page.goto(f"{app_url}model-card.html")
            page.evaluate("setTimeout(() => { throw new Error('boom'); })")
            wait_in_page(page, "() => false", what="nothing", timeout_ms=60_000)
    assert time.monotonic() - started < 20
