"""Offline use and privacy with the service worker: after one visit the app (and its model card) works
with the network off, from server.py and under a GitHub Pages sub-path; no request leaves the origin
and the CSP is never violated, service worker included; a new model version replaces the old cache.

    python -m pytest tests/browser/test_offline.py -q
"""

import pytest

from browser_helpers import CPU_BACKEND_TIMEOUT_MS, FIXTURES, LESION, checked_page, choose, open_app

pytestmark = pytest.mark.browser

# Resolves once sw.js controls the page (it claims it on activation, without a reload).
CONTROLLED = """async () => {
  const registration = await navigator.serviceWorker.ready;
  while (!navigator.serviceWorker.controller) await new Promise((resolve) => setTimeout(resolve, 50));
  return {script: registration.active.scriptURL, scope: registration.scope};
}"""

CACHED = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    out[name] = (await (await caches.open(name)).keys()).map((request) => request.url);
  }
  return out;
}"""

# Registers the worker for another model version and waits until it is the active one.
NEXT_VERSION = """async (version) => {
  const registration = await navigator.serviceWorker.register(`sw.js?model=${version}`, {scope: './'});
  const worker = registration.installing || registration.waiting || registration.active;
  while (worker.state !== 'activated') {
    if (worker.state === 'redundant') throw new Error('the new service worker failed to install');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return worker.scriptURL;
}"""


@pytest.fixture(params=["server.py", "pages"])
def site_url(request):
    """The app's URL from server.py (at /) and from a plain static server (at /skinlens/)."""
    return request.getfixturevalue("app_url" if request.param == "server.py" else "pages_url")


def test_works_offline_after_one_visit(browser, site_url, metadata):
    version = metadata["model"]["version"]
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        requests = []
        page.context.on("request", lambda request: requests.append(request))
        open_app(page, site_url)
        worker = page.evaluate(CONTROLLED)
        assert worker["scope"] == site_url
        assert worker["script"].startswith(f"{site_url}sw.js?model=")
        cached = page.evaluate(CACHED)
        assert list(cached) == [f"skinlens-{version}"]
        expected = {"", "index.html", "model-card.html", "main.js", "style.css",
                    "vendor/tfjs/tfjs-backend-wasm-simd.wasm", "model/metadata.json",
                    *[f"model/{name}" for name in metadata["model"]["files"]],
                    *[case["file"] for case in metadata["golden"]]}
        assert {site_url + path for path in expected} <= set(cached[f"skinlens-{version}"])
        assert any(r.service_worker for r in requests), "service-worker requests were not observed"

        page.context.set_offline(True)
        online = len(requests)
        open_app(page, site_url)  # a reload with the network off
        assert page.evaluate("window.skinlens.selfTest.passed")
        good, bad = choose(page, [LESION, FIXTURES / "not_an_image.jpg"])
        assert good["error"] is None and bad["error"].startswith("not an image")
        assert page.is_visible("#batch-table")
        # Every file the page loaded offline was answered by the worker (from its cache, or from the HTTP
        # cache where the server let the browser keep a fresh copy, as a plain static server does).
        loaded = [r for r in requests[online:] if not r.service_worker and r.url.startswith(site_url)]
        assert loaded and all(r.response() and r.response().from_service_worker for r in loaded)

        page.goto(f"{site_url}model-card.html")
        page.wait_for_selector("#card-status[data-state=ready]")
        assert version in page.inner_text("#model-facts")
        page.goto(f"{site_url}?backend=cpu")  # the query string does not defeat the cache
        page.wait_for_selector("#status[data-state=ready]", timeout=CPU_BACKEND_TIMEOUT_MS)
        assert page.inner_text("#model-backend") == "cpu"
    # checked_page has asserted: no console error, no CSP violation, no request to another origin.


def test_a_new_model_version_replaces_the_old_cache(browser, app_url, metadata):
    with checked_page(browser) as page:
        open_app(page, app_url)
        page.evaluate(CONTROLLED)
        page.evaluate("caches.open('skinlens-stale-release')")
        assert page.evaluate(NEXT_VERSION, "next-0123456789ab").endswith("sw.js?model=next-0123456789ab")
        assert list(page.evaluate(CACHED)) == ["skinlens-next-0123456789ab"]
