"""A headless Chromium (Debian's chromium and chromium-driver, through
selenium) drives the example apps served by gunicorn with 4 workers: it
clicks, picks a dropdown value, and checks that the graph and the table
show the right figures.  Screenshots go to build/screenshots/ (or to
$BRAIN_DASH_SCREENSHOT_DIR: `make dash-screenshot` refreshes docs/)."""
import os
import re
import shutil

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from servers import ROOT, Gunicorn
from frame import build_frame, summarize

from brain_plasma import Brain

ROWS = int(os.environ.get("BRAIN_DASH_TEST_ROWS", "200000"))
SHOTS = os.environ.get("BRAIN_DASH_SCREENSHOT_DIR") or os.path.join(ROOT, "build", "screenshots")
WAIT = 90


def _find(names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def browser():
    chromium = _find(["chromium", "chromium-browser", "google-chrome"])
    driver = _find(["chromedriver"])
    if not chromium or not driver:
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: "
                    "run `sh scripts/setup.sh dash` as root (make test-dash does)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--window-size=1100,1050", "--hide-scrollbars"):
        opts.add_argument(a)
    try:
        d = webdriver.Chrome(service=Service(driver), options=opts)
    except WebDriverException as exc:
        pytest.fail("chromium did not start through %s: %s" % (driver, exc.msg))
    yield d
    d.quit()


def text(d, id_):
    return d.find_element(By.ID, id_).text


def wait_text(d, id_, pattern):
    WebDriverWait(d, WAIT).until(lambda d: re.search(pattern, text(d, id_)),
                                 "#%s never matched %r" % (id_, pattern))
    return text(d, id_)


def pick(d, dropdown_id, value):
    """Opens the dropdown, types VALUE into its search box and clicks the
    option, as a user does."""
    d.find_element(By.ID, dropdown_id).click()
    search = WebDriverWait(d, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "input.dash-dropdown-search"))
    search[0].send_keys(value)

    def option(d):
        opts = [o for o in d.find_elements(By.CSS_SELECTOR, "[role=option]")
                if o.text == value]
        return opts[0] if len(d.find_elements(By.CSS_SELECTOR, "[role=option]")) == 1 \
            and opts else None
    WebDriverWait(d, WAIT).until(option, "no option %r in #%s" % (value, dropdown_id)).click()
    WebDriverWait(d, WAIT).until(
        lambda d: d.find_element(By.ID, dropdown_id + "-value").text == value)


def table_rows(d):
    rows = []
    for tr in d.find_elements(By.CSS_SELECTOR, "#table tbody tr"):
        cells = {td.get_attribute("data-dash-column"): td.text
                 for td in tr.find_elements(By.CSS_SELECTOR, "td")}
        if cells.get("segment"):
            rows.append(cells)
    return rows


def same_table(shown, want):
    if len(shown) != len(want):
        return False
    for s, w in zip(shown, want):
        if s["segment"] != w["segment"] or int(s["rows"]) != w["rows"] \
                or int(s["total_count"]) != w["total_count"] \
                or abs(float(s["mean_value"]) - w["mean_value"]) > 1e-9:
            return False
    return True


def wait_table(d, want):
    WebDriverWait(d, WAIT).until(lambda d: same_table(table_rows(d), want),
                                 "the table never showed %r" % (want,))


def graph_traces(d):
    return d.execute_script(
        "var g = document.querySelector('#graph .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => [t.name, t.x, t.y]) : null;")


def pids_in(s):
    return {int(p) for p in re.findall(r"worker (\d+)", s)}


def shoot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name))


def test_dash_app_in_a_browser(browser, store_name, tmp_path):
    d = browser
    frame = build_frame(ROWS)
    with open(tmp_path / "gunicorn.log", "w") as log, \
            Gunicorn("app", store_name, log=log,
                     env={"BRAIN_DASH_ROWS": str(ROWS), "BRAIN_DASH_STORE_SIZE": "1GB"}) as g:
        workers = set(g.worker_pids())
        d.get(g.url)
        wait_text(d, "status", "no frame yet")
        d.find_element(By.ID, "build").click()
        status = wait_text(d, "status", r"built %d rows" % ROWS)
        seen = pids_in(status)
        wait_table(d, summarize(frame, None)["table"])
        seen |= pids_in(wait_text(d, "served-by", "recalled the %d-row frame" % ROWS))
        for city in ("Oslo", "Kyoto"):
            pick(d, "city", city)
            want = summarize(frame, city)
            wait_table(d, want["table"])
            WebDriverWait(d, WAIT).until(
                lambda d: [[seg, line["x"], line["y"]] for seg, line in want["lines"].items()]
                == graph_traces(d), "the graph never showed %s's lines" % city)
            assert "%s: mean value by month (%d rows of %d)" % (city, want["rows"], ROWS) \
                in d.find_element(By.ID, "graph").text
            served = text(d, "served-by")
            seen |= pids_in(served)
        shoot(d, "dash-app.png")
        assert seen and seen <= workers, (seen, workers)


def test_serverside_outputs_in_a_browser(browser, store_name, tmp_path):
    d = browser
    rows = ROWS // 2
    with open(tmp_path / "gunicorn.log", "w") as log, \
            Gunicorn("serverside", store_name, log=log,
                     env={"BRAIN_DASH_ROWS": str(rows), "BRAIN_DASH_STORE_SIZE": "1GB"}) as g:
        workers = set(g.worker_pids())
        d.get(g.url)
        WebDriverWait(d, WAIT).until(lambda d: d.find_elements(By.ID, "load"))
        entries = Brain(store_name, namespace="cache:dash_extensions")
        seen = set()
        for click in (1, 2):
            d.find_element(By.ID, "load").click()
            seen |= pids_in(wait_text(d, "loaded", r"built %d rows \(seed %d\)" % (rows, click)))
            frame = build_frame(rows, seed=click)
            if click == 1:
                wait_table(d, summarize(frame, None)["table"])
                pick(d, "city", "Lima")
            want = summarize(frame, "Lima")
            wait_table(d, want["table"])
            seen |= pids_in(wait_text(d, "served-by", "Lima has %d rows" % want["rows"]))
            # one entry per click, each a whole frame in the store
            assert len(entries.names()) == click
        for info in entries.knowledge():
            assert info["size"] > rows * 30 and info["expires"] is not None
        shoot(d, "dash-serverside.png")
        assert seen and seen <= workers, (seen, workers)
        entries.sleep()
