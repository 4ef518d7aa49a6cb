"""Progress people can see: the model download's bar under a throttled connection (bytes received of
metadata's model.total_bytes, from the network and from the service worker's copy offline), and a
batch's bar (photo n of N, then the time left).

    python -m pytest tests/browser/test_progress.py -q
"""

import pytest

from browser_helpers import FIXTURES, LESION, choose, open_app, wait_for_offline_copy

pytestmark = pytest.mark.browser

# Records every value each <progress> takes (and the batch bar's label), as the page sets them.
PROGRESS_RECORDER = """
window.__progress = {};
new MutationObserver((records) => {
  for (const bar of new Set(records.map((record) => record.target))) {
    const label = document.getElementById('batch-progress-label')?.textContent ?? '';
    (window.__progress[bar.id] ??= []).push({value: bar.value, max: bar.max, label});
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['value', 'max']});
"""

# About a tenth of a fast home connection: the 4.7 MB model takes some 3 s, long enough to watch.
THROTTLED = {"offline": False, "latency": 40, "downloadThroughput": 1_500_000, "uploadThroughput": 750_000}
UNTHROTTLED = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}


def _download_values(page, total):
    """The download bar's values, checked to count bytes of `total` up to the end, once each chunk."""
    snapshots = page.evaluate("window.__progress['download-progress'] ?? []")
    assert snapshots, "the download bar never moved"
    assert all(s["max"] == total for s in snapshots)
    values = [s["value"] for s in snapshots]
    assert values == sorted(values), values
    assert values[-1] == total, f"the bar stopped at {values[-1]} of {total} bytes"
    assert page.is_hidden("#download"), "the download bar is still shown once the model is ready"
    return values


def test_download_bar_moves_and_reaches_the_end(page, app_url, metadata):
    total = metadata["model"]["total_bytes"]
    page.context.add_init_script(PROGRESS_RECORDER)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", THROTTLED)
    open_app(page, app_url)
    values = _download_values(page, total)
    partial = {v for v in values if 0 < v < total}
    assert len(partial) >= 10, f"the bar jumped instead of moving: {values}"

    # From the service worker's copy, offline: the same bytes, counted the same way.
    cdp.send("Network.emulateNetworkConditions", UNTHROTTLED)
    wait_for_offline_copy(page)
    page.context.set_offline(True)
    open_app(page, app_url)
    assert page.evaluate("window.__skinlens.ready.selfTest.passed")
    _download_values(page, total)


def test_batch_bar_counts_photos_and_says_the_time_left(page, app_url):
    page.context.add_init_script(PROGRESS_RECORDER)
    open_app(page, app_url)
    photos = [LESION, FIXTURES / "ISIC_0024306.jpg", FIXTURES / "ISIC_0024331.jpg"]
    choose(page, photos)
    snapshots = page.evaluate("window.__progress['batch-progress']")
    steps = [(s["value"], s["max"]) for s in snapshots]
    assert [pair for i, pair in enumerate(steps) if i == 0 or pair != steps[i - 1]] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    labels = [s["label"] for s in snapshots]
    assert labels[0] == "Photo 1 of 3"  # nothing to estimate from yet
    assert any(label.startswith("Photo 2 of 3, about ") and label.endswith(" s left") for label in labels), labels
    assert labels[-1] == "3 of 3 photos classified"
    assert page.is_visible("#batch-progress")

    choose(page, [LESION])  # a single photo: no bar
    assert page.is_hidden("#batch-progress-box")
