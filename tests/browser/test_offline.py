"""Offline use and privacy with the service worker: after one visit the app (and its model card) works
with the network off, from server.py and under a GitHub Pages sub-path; no request leaves the origin
and the CSP is never violated, service worker included; a new model version replaces the old cache; a
returning user whose page the old worker controls gets a new release online and the old one offline.

    python -m pytest tests/browser/test_offline.py -q
"""

import json

import pytest

from browser_helpers import CPU_BACKEND_TIMEOUT_MS, FIXTURES, LESION, checked_page, choose, open_app, web_with_metadata

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


def _release(name):
    """A metadata.json edit that renames the model version: a new release, as far as the page can tell."""
    return lambda metadata: {**metadata, "model": {**metadata["model"], "version": name}}


def _publish(site, web_root, metadata, name):
    """Puts release ``name`` on the site: its metadata.json and an index.html that says which release it is."""
    (site / "model" / "metadata.json").write_text(json.dumps(_release(name)(metadata)))
    index = site / "index.html"
    index.unlink()
    index.write_text((web_root / "index.html").read_text().replace(
        "<head>", f'<head>\n  <meta name="skinlens-release" content="{name}">', 1))


def _shown_release(page):
    return page.inner_text("#model-version"), page.get_attribute("meta[name=skinlens-release]", "content")


def test_a_returning_user_gets_the_new_release_online_and_the_old_one_offline(browser, web_root, serve_web,
                                                                              metadata, tmp_path):
    """The worker of release 1 still controls the page when release 2 is published: offline it serves
    release 1 from its cache; online the page must get release 2 (network first), whose worker then
    takes over, so that the next offline visit is release 2."""
    site = web_with_metadata(web_root, tmp_path / "web", _release("release-1"))
    _publish(site, web_root, metadata, "release-1")
    url = serve_web(site)
    with checked_page(browser) as page:
        open_app(page, url)
        assert page.evaluate(CONTROLLED)["script"].endswith("sw.js?model=release-1")
        assert _shown_release(page) == ("release-1", "release-1")

        _publish(site, web_root, metadata, "release-2")
        page.context.set_offline(True)
        open_app(page, url)
        assert _shown_release(page) == ("release-1", "release-1")

        page.context.set_offline(False)
        open_app(page, url)
        assert _shown_release(page) == ("release-2", "release-2")
        assert page.evaluate(NEXT_VERSION, "release-2").endswith("sw.js?model=release-2")
        page.context.set_offline(True)
        open_app(page, url)
        assert _shown_release(page) == ("release-2", "release-2")
        assert list(page.evaluate(CACHED)) == ["skinlens-release-2"]
