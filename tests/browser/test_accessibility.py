"""Accessibility and layout in a real Chromium: axe-core (npm devDependency, served beside the app for
the test only, never shipped) finds no serious or critical violation; the whole flow works from the
keyboard alone; results are announced; the layout fits a 360 px phone; and screenshots at phone and
desktop width land in test-results/screenshots/.

    python -m pytest tests/browser/test_accessibility.py -q
"""

from pathlib import Path

import pytest

from browser_helpers import (FIXTURES, LESION, ROOT, SCREENSHOTS, checked_page, choose, open_app, wait_for_results,
                             web_with_file)

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BATCH = [LESION, FIXTURES / "not_an_image.jpg", FIXTURES / "ISIC_0024306.jpg"]
PHONE = {"viewport": {"width": 360, "height": 780}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}

RUN_AXE = """async () => {
  const {violations} = await axe.run(document, {resultTypes: ['violations']});
  return violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}));
}"""


@pytest.fixture(scope="module")
def axe_url(web_root, tmp_path_factory):
    """The app with axe-core copied beside it, so the CSP's script-src 'self' admits it."""
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: run `npm ci`")
    from server import create_app, serving

    root = web_with_file(web_root, tmp_path_factory.mktemp("axe") / "web", AXE, "axe.min.js")
    with serving(create_app({"WEB_ROOT": str(root)})) as url:
        yield url


def _serious(page):
    page.add_script_tag(url="axe.min.js")
    violations = page.evaluate(RUN_AXE)
    return [v for v in violations if v["impact"] in ("serious", "critical")], violations


def _show_results(page):
    """A batch with one failure, and the activation map shown on the first card."""
    choose(page, BATCH)
    page.locator(".result-summary").first.click()  # a batch's cards start folded
    toggle = page.locator(".heatmap-toggle")
    if toggle.count():
        toggle.first.check()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_app_has_no_serious_axe_violation(browser, axe_url, size):
    with checked_page(browser, **(DESKTOP if size == "desktop" else PHONE)) as page:
        open_app(page, axe_url)
        _show_results(page)
        serious, everything = _serious(page)
        print(f"\naxe on the app ({size}): {[(v['id'], v['impact']) for v in everything]}")
        assert serious == [], serious


def test_model_card_has_no_serious_axe_violation(page, axe_url):
    page.goto(f"{axe_url}model-card.html")
    page.wait_for_selector("#card-status[data-state=ready]")
    serious, everything = _serious(page)
    print(f"\naxe on the model card: {[(v['id'], v['impact']) for v in everything]}")
    assert serious == [], serious


def test_keyboard_only_flow(page, app_url):
    """Tab to the button, Enter opens the file chooser; Tab to the map toggle, Space shows it; Tab to the
    CSV button, Enter downloads."""
    open_app(page, app_url)
    # Listening before any key is pressed makes Playwright intercept file choosers from the start: armed
    # only by expect_file_chooser, the first one can race a fast Enter and open unseen.
    choosers = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))

    def tab_to(selector, limit=40):
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                return
        pytest.fail(f"{selector} is not reachable with Tab")

    tab_to("#choose")
    page.keyboard.press("Enter")
    for _ in range(50):
        if choosers:
            break
        page.wait_for_timeout(100)
    assert choosers, "Enter on the focused button opened no file chooser"
    choosers[0].set_files(BATCH)
    results = wait_for_results(page, len(BATCH))
    assert [r["error"] is None for r in results] == [True, False, True]

    # Each result was announced to screen readers through the polite live region.
    assert page.get_attribute("#announcer", "aria-live") == "polite"
    assert "2 of 3 photos classified" in page.inner_text("#announcer")

    # A batch's cards are folded: Enter on the first one's summary opens it.
    tab_to("#card-1 .result-summary")
    page.keyboard.press("Enter")
    assert page.evaluate("document.querySelector('#card-1 details.result-fold').open")
    if page.locator(".heatmap-toggle").count():
        tab_to(".heatmap-toggle")
        page.keyboard.press("Space")
        assert page.locator("canvas.heatmap").first.is_visible()
    tab_to("#export-csv")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".csv")


def test_every_control_is_labelled(app_page):
    choose(app_page, [LESION])
    unlabelled = app_page.evaluate("""() => Array.from(document.querySelectorAll('button, input, meter, canvas[role=img]'))
      .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
      .map((el) => el.outerHTML.slice(0, 80))""")
    assert unlabelled == []


@pytest.mark.parametrize("size, name", [("phone", "phone-360.png"), ("desktop", "desktop-1280.png")])
def test_screenshots_and_layout_fit(browser, app_url, size, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with checked_page(browser, **(DESKTOP if size == "desktop" else PHONE)) as page:
        open_app(page, app_url)
        _show_results(page)
        width = page.viewport_size["width"]
        # Nothing wider than the screen: no sideways scrolling of the page (wide tables scroll in their box).
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        if size == "phone":
            assert page.is_visible("#take-photo")  # the camera button is offered on touch screens
        path = SCREENSHOTS / name
        # A viewport as tall as the page rather than full_page=True, which re-lays the page out without
        # the touch emulation (the camera button vanished) and with sticky elements misplaced.
        page.set_viewport_size({"width": width, "height": page.evaluate("document.documentElement.scrollHeight")})
        page.screenshot(path=str(path))
        assert Path(path).stat().st_size > 10_000
        print(f"\nscreenshot: {path}")
