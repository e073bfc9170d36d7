"""The HTML report: one self-contained file, checked statically and in a real headless Chromium
(rows expand and collapse, headers sort, formulas expand, no console errors, a screenshot)."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser

import pytest
from report_models import TinyTransformer

import netcensus
from netcensus.examples import ALEXNET_INPUT, alexnet
from netcensus.report.tree import display_rows

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def tiny():
    return netcensus.profile(TinyTransformer(), input_size="2x16:int64", train=True, depth=2)


@pytest.fixture(scope="module")
def page(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    tiny.save(str(path))
    return path


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(text: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(text)
    return parser.tags


def test_the_page_is_self_contained(page):
    text = page.read_text()
    tags = _tags(text)
    assert not [t for t, a in tags if "src" in a], "nothing may be loaded from elsewhere"
    assert [a.get("href") for t, a in tags if t == "link"] == ["data:,"]  # the empty favicon
    assert "@import" not in text and "url(" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace name, never fetched
    assert text.count("<script>") == 1 and text.count("<style>") == 1


def test_every_module_has_a_row_and_charts_are_inline_svg(tiny, page):
    tags = _tags(page.read_text())
    rows = [a for t, a in tags if t == "tr" and "data-key" in a]
    assert len(rows) == len(display_rows(tiny, None))  # all levels, repeated blocks collapsed
    svgs = [a for t, a in tags if t == "svg"]
    assert {"params", "flops", "memory"} <= {a["class"] for a in svgs}


def test_jupyter_fragment_is_a_static_table(tiny):
    frag = tiny._repr_html_()
    assert "<script" not in frag and "<html" not in frag and frag.startswith('<div class="nc">')
    rows = [a for t, a in _tags(frag) if t == "tr" and "data-key" in a]
    assert len(rows) == len(display_rows(tiny, 2))
    assert "32,096" in frag  # total params, by hand in report_models


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    b = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    yield b
    b.quit()


def _visible(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('table.nc-layers tbody tr'))"
        ".filter(function (r) { return !r.hidden; }).map(function (r) { return r.dataset.key; });")


def _click(browser, css: str) -> None:
    browser.execute_script("document.querySelector(arguments[0]).click();", css)


def test_page_in_a_real_browser(browser, page, tiny, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.title == "netcensus: TinyTransformer"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # starts open to the profile's depth (2); the group of blocks starts collapsed
    shown = _visible(browser)
    assert "blocks" in shown and "blocks.0-2#group" in shown and "blocks.0-2.attn" not in shown
    assert "blocks.0-2#total" in shown

    _click(browser, 'tr[data-key="blocks.0-2#group"] button.tg')
    assert "blocks.0-2.attn" in _visible(browser)

    _click(browser, 'tr[data-key=""] button.tg')  # collapse the root: only it stays
    assert _visible(browser) == [""]
    _click(browser, 'tr[data-key=""] button.tg')
    assert "blocks.0-2.attn" in _visible(browser)  # children keep their own state

    # sorting by Params orders each level's siblings, largest first, then smallest first
    headers = browser.find_elements(By.CSS_SELECTOR, "table.nc-layers thead th")
    col = [h.text for h in headers].index("Params")

    def top_level() -> list[int]:
        return browser.execute_script(
            "var c = arguments[0];"
            "return Array.from(document.querySelectorAll('table.nc-layers tbody tr[data-parent=\"\"]'))"
            ".map(function (r) { return Number(r.cells[c].dataset.v); });", col)

    headers[col].click()
    values = top_level()
    assert values == sorted(values, reverse=True) and values[0] == tiny.layer("blocks").params
    headers[col].click()
    assert top_level() == sorted(values)
    order = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.nc-layers tbody tr')).map(r => r.dataset.key);")
    assert order.index("blocks.0-2#total") > order.index("blocks.0-2.mlp.2")  # totals stay after the group

    # 'Reset' restores the trace order; 'Expand all' shows every row
    _click(browser, 'button[data-act="reset"]')
    assert [r for r in _visible(browser) if r in ("embed", "blocks", "norm", "head")] == \
        ["embed", "blocks", "norm", "head"]
    _click(browser, 'button[data-act="expand"]')
    assert len(_visible(browser)) == len(display_rows(tiny, None))

    # formulas: on hover (title) and on expand (details)
    qkv = browser.find_element(By.CSS_SELECTOR, 'tr[data-key="blocks.0-2.attn.qkv"]')
    assert "32*96 + 96" in qkv.find_element(By.CSS_SELECTOR, "td.name").get_attribute("title")
    details = qkv.find_element(By.CSS_SELECTOR, "details")
    pre = details.find_element(By.CSS_SELECTOR, "pre")
    assert not pre.is_displayed()
    details.find_element(By.CSS_SELECTOR, "summary").click()
    assert pre.is_displayed() and "3,168" in pre.text

    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("NETCENSUS_SCREENSHOT")
    if keep:  # to look at it: NETCENSUS_SCREENSHOT=/tmp/report.png pytest tests/test_report_html.py
        shutil.copy(shot, keep)


def test_alexnet_page_loads_without_errors(browser, tmp_path):
    path = tmp_path / "alexnet.html"
    netcensus.profile(alexnet(), input_size=ALEXNET_INPUT).save(str(path))
    browser.get(path.as_uri())
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert len(_visible(browser)) == 22  # the root and its 21 layers


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    pytest.importorskip("transformers")
    from netcensus.load import load

    loaded = load("hf:llama", overrides={"num_hidden_layers": "2"}, seq=64)
    args, kwargs = loaded.inputs
    p = netcensus.profile(loaded.model, inputs=args, input_kwargs=kwargs, train=True)
    folder = tmp_path_factory.mktemp("llama")
    p.save(str(folder / "default.html"))
    p.save(str(folder / "inputs.html"), columns="+input")  # the longest cells: a decoder layer's inputs
    return folder


def test_a_training_table_fits_1400_pixels(browser, llama):
    browser.get((llama / "default.html").as_uri())
    _click(browser, 'button[data-act="expand"]')
    page_width, view = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];")
    assert page_width <= view, (page_width, view)  # no horizontal scrolling of the page
    table = browser.execute_script(
        "var t = document.querySelector('table.nc-layers');"
        "return [t.scrollWidth, t.parentNode.clientWidth];")
    assert table[0] <= table[1], table  # nor of the table, every row expanded


def test_shape_cells_stay_on_one_line(browser, llama):
    browser.get((llama / "inputs.html").as_uri())
    _click(browser, 'button[data-act="expand"]')
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.nc-layers td.s')).filter(c => c.offsetParent)"
        ".map(c => [c.getBoundingClientRect().height, parseFloat(getComputedStyle(c).lineHeight), c.title]);")
    assert any(len(t) > 40 for _, _, t in cells), "a decoder layer's input text is long"
    assert all(h < 2 * lh for h, lh, _ in cells), [c for c in cells if c[0] >= 2 * c[1]][:3]
    page_width, view = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];")
    assert page_width <= view  # a wider table scrolls inside its box, not the page


def test_chart_labels_keep_whole_words(llama):
    text = (llama / "default.html").read_text()
    labels = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>', text)
    titles = re.findall(r"<g><title>([^:<]*):", text)
    assert labels and len(labels) == len(titles)
    for short, full in zip(labels, titles):
        words = set(re.split(r"[ .()]+", full))
        assert all(w in words for w in re.split(r"[ .()]+", short.replace("\u2026", "")) if w), (short, full)
