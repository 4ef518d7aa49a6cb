"""A single photo never blocks the page (issue 21): once the page's warm inference worker is ready, a photo
is classified there, and no task on the page's thread takes more than 50 ms (the browser's "long task",
from which a tap or a scroll feels stuck) from choosing the photo to its card being shown.

    python -m pytest tests/browser/test_longtasks.py -q -s     # -s prints what was measured

Each task is measured in the thread's own CPU time (Chromium's trace, `tdur`), which is what the page's
code costs. The browser's PerformanceObserver('longtask') measures wall time; it is recorded and printed
too, but not asserted: on this suite's busy 2-core machine a 5 ms task that the system pauses reads as
several hundred ms there, with the worker or not. Classifying on the page's thread was a single task of
0.3 s of CPU here, which both see.
"""

import json

import pytest
from browser_helpers import LESION, open_app, wait_for_results, wait_for_threads

pytestmark = pytest.mark.browser

# The browser's own long tasks (wall time, over 50 ms each), from now on, in window.__longTasks.
WATCH = """() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__longTasks.push(Math.round(entry.duration));
  }).observe({type: 'longtask'});
}"""

# Chromium's task events: each task the renderer's main thread ran, with its CPU time.
TRACE_CATEGORIES = ["toplevel", "disabled-by-default-devtools.timeline"]


def main_thread_tasks_ms(trace):
    """[(wall ms, CPU ms)] of every task the page's main thread ran during a Chromium trace, longest first."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    tasks = [(e["dur"] / 1000, e["tdur"] / 1000) for e in events if e.get("ph") == "X" and "tdur" in e and
             e.get("name") == "RunTask" and names.get((e["pid"], e["tid"])) == "CrRendererMain"]
    return sorted(tasks, key=lambda task: -task[1])


def test_a_single_photo_never_blocks_the_page(browser, page, app_url):
    open_app(page, f"{app_url}?threads=2")
    wait_for_threads(page, 2)  # the warm worker has loaded and passed its self-test
    for photo in ("first", "second"):  # the first also pays for the page's first card
        page.evaluate(WATCH)
        browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
        page.set_input_files("#files", LESION)
        [result] = wait_for_results(page, 1)
        tasks = main_thread_tasks_ms(browser.stop_tracing())
        page.wait_for_timeout(100)  # the observer's last report
        wall = page.evaluate("window.__longTasks")
        print(f"{photo} photo, on {result['thread']} ({result['timing']['modelMs']:.0f} ms): longest task on the "
              f"page's thread {tasks[0][1]:.1f} ms of CPU ({tasks[0][0]:.0f} ms wall); long tasks seen by the "
              f"PerformanceObserver {wall} ms")
        assert tasks and tasks[0][1] <= 50, (photo, tasks[:5])
        assert result["error"] is None and result["thread"] == "worker 1"
