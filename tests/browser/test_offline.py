"""Offline use and privacy with the service worker: after one visit the app (and its model card) works
with the network off, from server.py and under a GitHub Pages sub-path; no request leaves the origin
and the CSP is never violated, service worker included; a returning user whose page the old worker controls gets a new release online and the old one offline, and
a release whose files do not all match its manifest never replaces the offline copy.

    python -m pytest tests/browser/test_offline.py -q
"""

import json

import pytest

from browser_helpers import (FIXTURES, LESION, checked_page, choose, open_app, start_workers, wait_for_offline_copy,
                             wait_in_page, web_with_metadata)

from converter.precache import MANIFEST, write_manifest

pytestmark = pytest.mark.browser

CACHED = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    out[name] = (await (await caches.open(name)).keys()).map((request) => request.url);
  }
  return out;
}"""

# The worker of `release` once it is active and controls the page; throws if it could not install.
ACTIVE_RELEASE = """async (release) => {
  const ours = (worker) => worker?.scriptURL.endsWith(`sw.js?release=${release}`);
  const registration = await navigator.serviceWorker.getRegistration();
  const worker = [registration?.installing, registration?.waiting, registration?.active].find(ours);
  if (worker?.state === 'redundant') throw new Error(`the worker of release ${release} failed to install`);
  return worker?.state === 'activated' && navigator.serviceWorker.controller?.scriptURL === worker.scriptURL &&
    worker.scriptURL;
}"""


def wait_for_release(page, release):
    return wait_in_page(page, ACTIVE_RELEASE, release, what=f"release {release}'s service worker to control the page")


@pytest.fixture(params=["server.py", "pages"])
def site_url(request):
    """The app's URL from server.py (at /) and from a plain static server (at /skinlens/)."""
    return request.getfixturevalue("app_url" if request.param == "server.py" else "pages_url")


def test_works_offline_after_one_visit(browser, site_url, web_root, metadata):
    manifest = json.loads((web_root / "precache.json").read_text())
    release = manifest["release"]
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        requests = []
        page.context.on("request", lambda request: requests.append(request))
        open_app(page, f"{site_url}?threads=2")
        worker = wait_for_offline_copy(page)
        assert worker["scope"] == site_url
        assert worker["script"] == f"{site_url}sw.js?release={release}"
        cached = page.evaluate(CACHED)
        assert list(cached) == [f"skinlens-{release}"]
        # Exactly the manifest's files (and './', the folder's index.html, and the manifest itself).
        assert set(cached[f"skinlens-{release}"]) == {site_url + path for path in ["", "precache.json",
                                                                                    *manifest["files"]]}
        expected = {"index.html", "model-card.html", "main.js", "skinlens.js", "style.css",
                    "vendor/tfjs/tfjs-backend-wasm-simd.wasm", "model/metadata.json",
                    *[f"model/{name}" for name in metadata["model"]["files"]],
                    *[case["file"] for case in metadata["golden"]]}
        assert expected <= set(manifest["files"])
        assert any(r.service_worker for r in requests), "service-worker requests were not observed"
        # The page's warm inference worker (main.js warmWorker) loads after the self-test; leaving before it
        # has would abort its module requests, which the check below would count against the offline page.
        assert start_workers(page, 2) == "batches on 2 threads (the page and 1 worker)"

        page.context.set_offline(True)
        online = len(requests)
        open_app(page, f"{site_url}?threads=2")  # a reload with the network off
        assert page.evaluate("window.__skinlens.ready.selfTest.passed")
        good, bad = choose(page, [LESION, FIXTURES / "not_an_image.jpg"])
        assert good["error"] is None and bad["error"].startswith("not an image")
        assert page.is_visible("#batch-table")
        # The inference workers (pool.js) start offline too, from the same copy.
        assert start_workers(page, 2) == "batches on 2 threads (the page and 1 worker)"
        assert "worker 1" in {r["thread"] for r in choose(page, [LESION] * 6)}
        # Every file the page loaded offline was answered by the worker (from its cache, or from the HTTP
        # cache where the server let the browser keep a fresh copy, as a plain static server does).
        loaded = [r for r in requests[online:] if not r.service_worker and r.url.startswith(site_url)]
        # Which ones were not (the URL, why it failed, its status), should a run ever find one.
        elsewhere = [(r.url, r.failure, r.response() and r.response().status) for r in loaded
                     if not (r.response() and r.response().from_service_worker)]
        assert loaded and not elsewhere, elsewhere

        page.goto(f"{site_url}model-card.html")
        page.wait_for_selector("#card-status[data-state=ready]")
        assert metadata["model"]["version"] in page.inner_text("#model-facts")
        # A query string does not defeat the cache (the backends themselves: test_app's golden tests).
        open_app(page, f"{site_url}?backend=wasm")
        assert page.text_content("#model-backend") == "wasm"
    # checked_page has asserted: no console error, no CSP violation, no request to another origin.


def _publish(site, web_root, name, *, break_file=None):
    """Puts release ``name`` on the site: an index.html that says which release it is (an app-only
    update: the model is unchanged) and its manifest. ``break_file``: a listed file then changed on the
    server without a new manifest, as a deployment cut short leaves it."""
    index = site / "index.html"
    index.unlink()
    index.write_text((web_root / "index.html").read_text().replace(
        "<head>", f'<head>\n  <meta name="skinlens-release" content="{name}">', 1))
    (site / MANIFEST).unlink(missing_ok=True)
    release = write_manifest(site)["release"]
    if break_file:
        target = site / break_file
        data = target.read_bytes()
        target.unlink()
        target.write_bytes(data + b"\n/* changed after the manifest */\n")
    return release


def _shown_release(page):
    return page.get_attribute("meta[name=skinlens-release]", "content")


def _site(web_root, tmp_path):
    """A copy of the web root (symlinks) whose files a test may replace."""
    return web_with_metadata(web_root, tmp_path / "web", lambda metadata: metadata)


def test_a_returning_user_gets_the_new_release_online_and_the_old_one_offline(browser, web_root, serve_web,
                                                                              tmp_path):
    """Release 1's worker still controls the page when release 2 (only index.html changed) is published:
    offline it serves release 1 from its cache; online the page gets release 2 (network first) and
    registers release 2's worker, which takes over, so that the next offline visit is release 2, and
    release 1's copy is gone."""
    site = _site(web_root, tmp_path)
    first = _publish(site, web_root, "release-1")
    url = serve_web(site)
    with checked_page(browser) as page:
        open_app(page, url)
        wait_for_release(page, first)
        assert _shown_release(page) == "release-1"

        second = _publish(site, web_root, "release-2")
        assert second != first
        page.context.set_offline(True)
        open_app(page, url)
        assert _shown_release(page) == "release-1"

        page.context.set_offline(False)
        open_app(page, url)
        assert _shown_release(page) == "release-2"
        wait_for_release(page, second)
        page.context.set_offline(True)
        open_app(page, url)
        assert _shown_release(page) == "release-2"
        assert list(page.evaluate(CACHED)) == [f"skinlens-{second}"]


def test_the_first_online_visit_after_an_update_gets_it_when_the_host_lets_browsers_cache(browser, web_root,
                                                                                         tmp_path):
    """A host that lets the browser keep its files for 10 minutes (GitHub Pages sends max-age=600):
    release 1's worker, network first, must revalidate what it fetches, or the browser's HTTP cache
    answers for the network and the first online visit after release 2 shows release 1 again."""
    from server import create_app, serving

    site = _site(web_root, tmp_path)
    first = _publish(site, web_root, "release-1")
    app = create_app({"WEB_ROOT": str(site)})

    @app.after_request
    def cacheable(response):
        response.headers["Cache-Control"] = "public, max-age=600"
        return response

    with serving(app) as url, checked_page(browser) as page:
        open_app(page, url)
        wait_for_release(page, first)
        open_app(page, url)  # a second visit, through the worker: now in the HTTP cache too
        assert _shown_release(page) == "release-1"

        second = _publish(site, web_root, "release-2")
        open_app(page, url)
        assert _shown_release(page) == "release-2"
        wait_for_release(page, second)


def test_an_incomplete_release_never_replaces_the_offline_copy(browser, web_root, serve_web, tmp_path):
    """Release 2's manifest is published but one of its files is not the one it lists (a deployment cut
    short): its worker fails to install, the page names the file that did not match, and offline the user
    still gets release 1, whole: never release 2's index.html with release 1's files or the reverse."""
    site = _site(web_root, tmp_path)
    first = _publish(site, web_root, "release-1")
    url = serve_web(site)
    with checked_page(browser) as page:
        open_app(page, url)
        wait_for_release(page, first)

        second = _publish(site, web_root, "release-2", break_file="card.js")
        open_app(page, url)  # online: release 2's page, whose worker cannot install
        assert _shown_release(page) == "release-2"
        page.wait_for_selector("#offline:has-text('offline copy not installed: card.js did not match')",
                               state="attached")
        assert list(page.evaluate(CACHED)) == [f"skinlens-{first}"]
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith(f"release={first}")

        page.context.set_offline(True)
        open_app(page, url)
        assert _shown_release(page) == "release-1"
        cached_ui = page.evaluate("fetch('card.js').then((response) => response.text())")
        assert "changed after the manifest" not in cached_ui
        assert second not in json.dumps(page.evaluate(CACHED))


# The manifest the page links, fetched as the browser would: its URL, Content-Type and content.
LINKED_MANIFEST = """async () => {
  const href = document.querySelector('link[rel=manifest]').href;
  const response = await fetch(href);
  return {href, type: response.headers.get('content-type'), manifest: await response.json()};
}"""


def test_the_app_is_installable_from_server_and_pages(browser, site_url):
    """Chromium finds the linked web app manifest (served as application/manifest+json) with no errors,
    resolves start_url and scope to the app's folder (under the Pages sub-path too), fetches every icon,
    and the offline copy (precache.json) holds the manifest and its icons, so the installed app opens offline."""
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        open_app(page, site_url)
        linked = page.evaluate(LINKED_MANIFEST)
        assert linked["href"] == f"{site_url}manifest.webmanifest"
        assert linked["type"].split(";")[0] == "application/manifest+json"

        cdp = page.context.new_cdp_session(page)
        found = cdp.send("Page.getAppManifest")
        assert found["url"] == linked["href"] and found["errors"] == [], found["errors"]
        assert found["parsed"]["scope"] == site_url  # "./" resolved against the manifest: the app's folder
        # Chromium's own install check: nothing stops it but the test's private (incognito) profile.
        wait_for_offline_copy(page)
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert {error["errorId"] for error in errors} <= {"in-incognito"}, errors
        assert json.loads(found["data"]) == linked["manifest"]

        icons = [icon["src"] for icon in linked["manifest"]["icons"]]
        fetched = page.evaluate("""async (sources) => Promise.all(sources.map(async (src) => {
          const response = await fetch(new URL(src, document.baseURI));
          return [response.status, response.headers.get('content-type')];
        }))""", icons)
        assert fetched == [[200, "image/png"]] * len(icons)
        listed = page.evaluate("async () => (await (await fetch('precache.json')).json()).files")
        assert {"manifest.webmanifest", "icons/favicon-32.png", "icons/apple-touch-icon.png", *icons} <= set(listed)
