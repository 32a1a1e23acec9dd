"""The report as a reader sees it: index.html opened from disk in a real headless Chromium.

Checks that every picture decodes (naturalWidth > 0), that the page logs no console error,
that nothing is fetched from outside the file (every resource is a data: or file: URL, and no
element points at http(s)), and that the main tables and pictures are there.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and ``selenium`` (the dev
extras).  Without them the test is skipped with a line saying how to enable it; under CI
(``CI=true``, as ``.ci/run`` is run) it fails instead, so it cannot silently stop running.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ may or may not be a package

import analysis_fixtures as fx  # noqa: E402

import analysis  # noqa: E402

ENABLE = ("apt-get install -y chromium chromium-driver (Debian) and pip install -e '.[dev]' "
          "(selenium); .ci/run installs them, and under CI=true a missing browser is a failure")
#: flags for a browser that does nothing on its own: no network, sync, updates or GPU
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--window-size=1280,900")


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium = None
    missing = [name for name, found in (("chromium", chromium), ("chromedriver", driver),
                                        ("selenium", selenium)) if not found]
    if missing:
        message = f"report browser test NOT RUN: {', '.join(missing)} missing; to run it: {ENABLE}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


@pytest.fixture()
def browser(tmp_path):
    chromium, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS + (f"--user-data-dir={tmp_path / 'profile'}",):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def full_page_png(driver, path: Path) -> Path:
    """A screenshot of the whole page (the window grown to the document's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 100, 30000))
    path.write_bytes(driver.get_screenshot_as_png())
    return path


def test_report_opens_in_a_real_browser(browser, tmp_path):
    root = fx.write_results(tmp_path / "fixture", images=True)
    cls = fx.write_cls_results(tmp_path / "cls", images=True)
    out = tmp_path / "report"
    analysis.build_report([root, cls], out, "html")
    page = out / "index.html"
    browser.get(page.as_uri())  # returns after the load event: every image has been decoded

    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
        "i.src.slice(0, 22)])")
    assert len(images) >= 10
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert {src for *_, src in images} == {"data:image/png;base64,"}

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []

    resources = browser.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).map(e => e.name)")
    assert resources and all(url.startswith(("data:", "file:")) for url in resources), resources
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('[src],[href],[srcset],[action]'))"
        ".map(e => e.getAttribute('src') || e.getAttribute('href') || "
        "e.getAttribute('srcset') || e.getAttribute('action'))")
    assert not [u for u in links if not u.startswith("data:")], links

    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h2,h3')).map(h => h.textContent)")
    for wanted in ("Headline: which factors changed accuracy and PSNR", "Sweeps side by side",
                   "Results per factor level", "Effects against the reference setting",
                   "The paper's numbers beside ours", "Pictures: what was learned"):
        assert wanted in headings, (wanted, headings)
    tables = browser.execute_script("return document.querySelectorAll('table tbody tr').length")
    assert tables >= 20
    # the pictures render enlarged (the 242-pixel grids at twice their size), pixels sharp
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('img.pixels')).map(i => "
        "[i.naturalWidth, i.getBoundingClientRect().width])")
    assert shown and all(w == 242 and box == pytest.approx(2 * 242) for w, box in shown), shown
    assert full_page_png(browser, tmp_path / "page.png").stat().st_size > 10_000


def test_the_first_screen_is_the_headline_and_a_figure_and_nothing_runs_off_the_page(
        browser, tmp_path):
    """Issue 43: the report opened on a 1280x900 screen shows the headline and one figure
    first; the methods paragraph is one click away (a closed <details>); a wide table
    scrolls in its own box, the page itself is never wider than the window."""
    root = fx.write_results(tmp_path / "fixture", images=True)
    cls = fx.write_cls_results(tmp_path / "cls", images=True)
    out = tmp_path / "report"
    analysis.build_report([root, cls], out, "html")
    browser.set_window_size(1280, 900)
    browser.get((out / "index.html").as_uri())
    view = browser.execute_script("return window.innerHeight")
    top = browser.execute_script(
        "const h = Array.from(document.querySelectorAll('h2')).find(x => "
        "x.textContent.startsWith('Headline')); const f = document.querySelector('figure');"
        "return [h.getBoundingClientRect().top, f.getBoundingClientRect().top, "
        "f.querySelector('img').naturalWidth]")
    assert top[0] < view / 3 and top[2] > 0, top
    # nothing but the headline's own text between its heading and the figure
    between = browser.execute_script(
        "const h = Array.from(document.querySelectorAll('h2')).find(x => "
        "x.textContent.startsWith('Headline')); const out = []; "
        "for (let e = h.nextElementSibling; e && e.tagName !== 'FIGURE'; "
        "e = e.nextElementSibling) out.push(e.tagName); return out")
    assert set(between) <= {"P", "UL", "H3"}, between  # H3: one headline per sweep
    methods = browser.execute_script(
        "const d = document.querySelector('details'); return [d.open, "
        "d.querySelector('summary').textContent, d.getBoundingClientRect().top, "
        "d.textContent.includes('Holm')]")
    assert methods[0] is False and methods[1].startswith("Methods") and methods[3], methods
    assert top[1] < methods[2], (top, methods)  # headline and figure before the methods
    widths = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth, "
        "Math.max(...Array.from(document.querySelectorAll('div.tw')).map(d => "
        "d.scrollWidth - d.clientWidth))]")
    assert widths[0] <= widths[1], widths  # nothing widens the page
    assert browser.execute_script(
        "return Array.from(document.querySelectorAll('table')).every(t => "
        "t.closest('div.tw, .tt-box') !== null)")
