"""web/ as files: what the browser tests cannot see at a glance. Every page carries the same CSP as
server.py, has no inline script or style and loads nothing by an absolute URL; the service worker
precaches every file the app loads; no script stores anything; axe-core is a pinned dev dependency
that is not shipped; the CI workflow publishes web/ once its tests pass.
"""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import server

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
PAGES = sorted(WEB.glob("*.html"))
SCRIPTS = sorted(WEB.glob("*.js"))


class _Page(HTMLParser):
    """Collects a page's CSP meta, scripts, style attributes, event handlers and loaded URLs."""

    def __init__(self):
        super().__init__()
        self.csp, self.inline_scripts, self.styles, self.handlers, self.loaded = None, [], [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = attrs["content"]
        if tag == "script":
            self._in_script = "src" not in attrs
            if "src" in attrs:
                self.loaded.append(attrs["src"])
        if tag == "link" and attrs.get("rel") in ("stylesheet", "icon", "apple-touch-icon", "manifest", "modulepreload"):
            self.loaded.append(attrs["href"])
        if tag in ("img", "iframe", "source", "video", "audio") and "src" in attrs:
            self.loaded.append(attrs["src"])
        if tag == "style":
            self.styles.append("<style>")
        if "style" in attrs:
            self.styles.append(f"<{tag} style=...>")
        self.handlers += [f"<{tag} {name}=...>" for name in attrs if name.startswith("on")]

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts.append(data.strip()[:40])


def _parse(path):
    page = _Page()
    page.feed(path.read_text())
    return page


def test_there_are_pages():
    assert {p.name for p in PAGES} == {"index.html", "model-card.html"}


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_carry_the_servers_csp_and_no_inline_code(path):
    page = _parse(path)
    # frame-ancestors is ignored in <meta>, so only server.py sends it.
    assert page.csp == server.CONTENT_SECURITY_POLICY.replace("; frame-ancestors 'none'", "")
    assert page.inline_scripts == [] and page.styles == [] and page.handlers == []
    for url in page.loaded:
        # Relative URLs only: the app must work under a GitHub Pages sub-path.
        assert not re.match(r"^([a-z]+:|/)", url), url


def test_the_offline_manifest_lists_every_app_file():
    """precache.json (what sw.js copies for offline use) has every page, script and style, what the pages
    load, both single-threaded wasm builds, and the model's files."""
    from converter.precache import manifest

    listed = set(manifest(WEB)["files"])
    app_files = {p.name for p in WEB.iterdir() if p.suffix in (".html", ".js", ".css")}
    loaded = {url for page in PAGES for url in _parse(page).loaded if not url.startswith(("data:", "blob:"))}
    assert app_files | loaded <= listed
    assert {"vendor/tfjs/tfjs-backend-wasm-simd.wasm", "vendor/tfjs/tfjs-backend-wasm.wasm",
            "model/metadata.json", "model/model.json"} <= listed


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_store_nothing(path):
    source = path.read_text()
    if path.name == "sw.js":  # it stores the release's own files, at install, and nothing when fetching
        install = source.split("async function install()")[1].split("addEventListener('activate'")[0]
        fetch = source.split("addEventListener('fetch'")[1]
        assert "cache.put(path, responses[i])" in install and ".put(" not in fetch and ".add" not in fetch
        source = source.replace("cache.put", "")
    for api in ("localStorage", "sessionStorage", "indexedDB", "document.cookie", "cache.put", "cache.add", "eval(",
                "new Function"):
        assert api not in source, f"{path.name} uses {api}"


def test_axe_core_is_a_pinned_dev_dependency_and_not_shipped():
    package = json.loads((ROOT / "package.json").read_text())
    version = package["devDependencies"]["axe-core"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "pin axe-core exactly"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/axe-core"]["version"] == version
    assert "axe-core" not in package.get("dependencies", {})
    assert not [p for p in WEB.rglob("*") if "axe" in p.name.lower()]


def test_ci_runs_the_ci_command_and_pages_publishes_only_what_passed():
    """One workflow: `bash .ci/run` on every push and pull request; web/ goes to Pages only from main and only
    after that job passed."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers) and triggers["push"] is None  # every branch
    test, deploy = workflow["jobs"]["test"], workflow["jobs"]["deploy"]
    assert {"run": "bash .ci/run", "name": "bash .ci/run"} in test["steps"]
    assert deploy["needs"] == "test" and "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    uses = [step.get("uses", "") for step in deploy["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/deploy-pages") for u in uses)
    artifact = next(step for step in deploy["steps"] if step.get("uses", "").startswith("actions/upload-pages"))
    assert artifact["with"]["path"].rstrip("/") == "web"
    assert deploy["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert workflow["permissions"] == {"contents": "read"}  # the test job cannot write anything
    assert not (ROOT / ".github" / "workflows" / "pages.yml").exists()


def test_browser_and_python_recognise_the_same_heif_and_avif_brands():
    from trainer.images import AVIF_BRANDS, HEIF_BRANDS

    source = (WEB / "imaging.js").read_text()
    for name, brands in (("HEIF_BRANDS", HEIF_BRANDS), ("AVIF_BRANDS", AVIF_BRANDS)):
        listed = re.search(rf"const {name} = \[([^\]]*)\]", source).group(1)
        assert re.findall(r"'([^']+)'", listed) == list(brands), name


def test_the_app_is_installable_from_its_web_app_manifest():
    """manifest.webmanifest: names, relative start_url and scope (the app lives under a sub-path on Pages),
    standalone, the page's colours, and PNG icons of the sizes it states, one of them maskable with its
    drawing inside the safe circle; every page links it, and everything is in the offline copy."""
    from PIL import Image

    from converter.precache import manifest as precache

    app = json.loads((WEB / "manifest.webmanifest").read_text())
    assert app["name"].startswith("SkinLens") and app["short_name"] == "SkinLens" and app["description"]
    assert app["start_url"] == "./" and app["scope"] == "./"
    assert app["display"] == "standalone"
    style = (WEB / "style.css").read_text()
    assert re.search(rf"--paper: {app['background_color']};", style)
    assert re.search(rf"--warn-bg: {app['theme_color']};", style)  # the banner, the top of the page
    index = _parse(WEB / "index.html")
    assert {"manifest.webmanifest", "icons/apple-touch-icon.png", "icons/favicon-32.png"} <= set(index.loaded)
    assert f'<meta name="theme-color" content="{app["theme_color"]}">' in (WEB / "index.html").read_text()
    assert "manifest.webmanifest" in _parse(WEB / "model-card.html").loaded

    listed = set(precache(WEB)["files"])
    assert "manifest.webmanifest" in listed
    sizes = set()
    for icon in app["icons"]:
        assert not re.match(r"^([a-z]+:|/)", icon["src"]) and icon["src"] in listed, icon
        with Image.open(WEB / icon["src"]) as image:
            assert image.format == "PNG" and icon["type"] == "image/png"
            assert f"{image.width}x{image.height}" == icon["sizes"], icon
            if "maskable" in icon.get("purpose", ""):
                # A mask keeps only the circle of 40% radius: outside it, nothing but the background colour.
                rgb = image.convert("RGB")
                w, h = rgb.size
                outside = [rgb.getpixel((x, y)) for x in range(0, w, 8) for y in range(0, h, 8)
                           if (x - w / 2) ** 2 + (y - h / 2) ** 2 > (0.4 * w) ** 2]
                assert len(set(outside)) == 1, "the maskable icon draws outside its safe zone"
                assert image.mode == "RGB" or image.getextrema()[3][0] == 255, "a maskable icon must be opaque"
        sizes.add((icon["sizes"], icon.get("purpose", "any")))
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for name in ("icons/favicon-32.png", "icons/apple-touch-icon.png"):
        assert name in listed
        with Image.open(WEB / name) as image:
            assert image.size == ((32, 32) if "favicon" in name else (180, 180))


def test_the_batch_csv_passes_its_node_tests():
    """web/csv.js (tests/js/csv.test.js): a row per file in order, the answers each row used, failed files with
    their error only, formulas defused and cells quoted."""
    from node_tier import node_test

    node_test("csv.test.js")
