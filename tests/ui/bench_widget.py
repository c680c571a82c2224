"""Widget speed figures (a benchmark, not a test: run it explicitly, it prints its figures).

    CKAN_SQLALCHEMY_URL=… CKAN_REDIS_URL=… .venv/bin/pytest tests/ui/bench_widget.py -s -q

- resource page render time with and without the panel (200 interleaved pairs: medians,
  quartiles, and the median of the paired differences);
- autocomplete: time from the last keystroke to the suggestions on screen, in Chromium;
- bytes of JavaScript and CSS the panel adds (as served: minified by webassets);
- SQL statements a resource page sends with and without the panel.
"""
from __future__ import annotations

import gzip
import statistics
import time
from pathlib import Path

import ckan.lib.helpers as core_helpers
import pytest

ASSETS = Path(__file__).resolve().parents[2] / "ckanext" / "dataclic" / "assets"
QUERIES = ["bordeaux met", "st emilion", "33063", "gironde", "merignac", "33700", "lyon", "paris 1"]
MEASURE_JS = """
const box = document.querySelector('input[role=combobox]');
const list = document.getElementById(box.getAttribute('aria-controls'));
const done = arguments[arguments.length - 1];
box.value = '';
box.dispatchEvent(new Event('input'));
setTimeout(() => {
  let last = 0;
  const observer = new MutationObserver(() => {
    if (list.querySelector('[role=option]') && !list.hidden) {
      observer.disconnect();
      done(performance.now() - last);
    }
  });
  observer.observe(list, {childList: true, attributes: true});
  // Type like a person: one character every 40 ms; the clock starts at the last one.
  const text = arguments[0];
  [...text].forEach((ch, i) => setTimeout(() => {
    box.value = text.slice(0, i + 1);
    last = performance.now();
    box.dispatchEvent(new Event('input'));
  }, 40 * i));
}, 300);
"""


SAMPLES = 200


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def _spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.1f} ms (IQR {_q(values, 0.25):.1f}-"
            f"{_q(values, 0.75):.1f}, p90 {_q(values, 0.9):.1f})")


def _statements(app, url: str, monkeypatch=None) -> int:
    """SQL statements one page view sends (counted on CKAN's engine)."""
    from ckan import model
    from sqlalchemy import event

    sent: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(model.meta.engine, "before_cursor_execute", count)
    try:
        if monkeypatch is None:
            app.get(url)
        else:
            with monkeypatch.context() as without:
                without.delitem(core_helpers.helper_functions, "dataclic_extraction_panel")
                app.get(url)
    finally:
        event.remove(model.meta.engine, "before_cursor_execute", count)
    return len(sent)


def _time_ms(app, url: str) -> float:
    start = time.perf_counter()
    app.get(url)
    return (time.perf_counter() - start) * 1000


@pytest.mark.usefixtures("clean_db", "with_plugins")
def test_widget_figures(demo_resource, portal, browser, app, monkeypatch):
    from webassets.filter.rjsmin.rjsmin import jsmin

    js = jsmin("\n".join((ASSETS / name).read_text() for name in (
        "dataclic-extract-grid.js", "dataclic-extract.js"))).encode()
    print(f"\npanel assets: one bundle, JS with the panel's CSS inside, {len(js)} B minified "
          f"({len(gzip.compress(js))} B gzip)")

    dataset, resource = demo_resource["dataset"], demo_resource["resource"]
    url = f"/dataset/{dataset['name']}/resource/{resource['id']}"
    for _ in range(10):
        app.get(url)
    # Interleave the two variants request by request (alternating which goes first) so
    # machine load drifts hit both alike.
    with_times, without_times = [], []

    def without_panel() -> float:
        with monkeypatch.context() as without:
            without.delitem(core_helpers.helper_functions, "dataclic_extraction_panel")
            return _time_ms(app, url)

    for i in range(SAMPLES):
        if i % 2:
            with_times.append(_time_ms(app, url))
            without_times.append(without_panel())
        else:
            without_times.append(without_panel())
            with_times.append(_time_ms(app, url))
    assert "dataclic-extract" in app.get(url).body
    print(f"SQL statements per resource page: {_statements(app, url)} with the panel, "
          f"{_statements(app, url, monkeypatch)} without")
    pairs = sorted(w - o for w, o in zip(with_times, without_times, strict=True))
    with_panel, without = statistics.median(with_times), statistics.median(without_times)
    print(f"resource page, {SAMPLES} interleaved pairs: without the panel {_spread(without_times)}; "
          f"with it {_spread(with_times)}; difference of medians +{with_panel - without:.1f} ms "
          f"(+{100 * (with_panel / without - 1):.1f} %), median of paired differences "
          f"+{statistics.median(pairs):.1f} ms (IQR {_q(pairs, 0.25):+.1f} to {_q(pairs, 0.75):+.1f})")

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{portal}{url}")
    WebDriverWait(browser, 30).until(expected_conditions.visibility_of_element_located(
        (By.CSS_SELECTOR, "input[role=combobox]")))
    browser.set_script_timeout(30)
    timings = []
    for query in QUERIES * 3:
        timings.append(browser.execute_async_script(MEASURE_JS, query))
    timings.sort()
    print(f"autocomplete, last keystroke to suggestions shown ({len(timings)} searches): "
          f"median {statistics.median(timings):.0f} ms, "
          f"p95 {timings[int(0.95 * (len(timings) - 1))]:.0f} ms, max {timings[-1]:.0f} ms "
          f"(includes the 50 ms debounce)")
