"""The static site of a run (gsam-lab site), read in headless Chromium as a person reads it.

The site is served by a static file server on 127.0.0.1. By default it is the site of the small run that
``tests/sitebuild.py`` makes; ``GSAM_LAB_SITE=DIR`` checks an already built site instead (e.g. that of a
real quick-profile run), and with ``GSAM_LAB_UPDATE_DOCS_IMG=1`` as well, its screenshots of the front page
and of notebook 02's first figure become the README's ``docs/img/site_front.png`` and
``docs/img/site_notebook.png``.
"""
from __future__ import annotations

import functools
import http.server
import io
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from PIL import Image

from labdriver import publish_to_docs

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

NB02 = "notebooks/02_sam_prompt_stability.html"
PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 768}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_dir(request) -> Path:
    given = os.environ.get("GSAM_LAB_SITE")
    if given:
        return Path(given).resolve()
    return request.getfixturevalue("small_site").out


@pytest.fixture(scope="module")
def base_url(site_dir):
    """The site served on a free loopback port for the module; stopped at the end."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _recording_page(context):
    """A page of ``context`` that records console errors, page errors and failed requests in ``page.problems``."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: page.problems.append(f"request failed: {r.url} {r.failure}")
            if r.failure != "net::ERR_ABORTED" else None)     # aborted by the next navigation, not broken
    page.on("response", lambda r: page.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return page


@pytest.fixture
def new_page(browser):
    """``new_page(viewport)``: a fresh recording page (see ``_recording_page``)."""
    contexts = []

    def make(viewport=LAPTOP):
        contexts.append(browser.new_context(viewport=viewport))
        return _recording_page(contexts[-1])

    yield make
    for context in contexts:
        context.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


_LINKS_JS = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  assets: [...document.querySelectorAll('img[src], script[src], link[href]')].map(e => e.src || e.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  images: [...document.querySelectorAll('img')].map(i => ({src: i.src, alt: i.getAttribute('alt') || ''})),
})"""
_WIDTH_JS = """() => ({
  page: [document.documentElement.scrollWidth, window.innerWidth],
  tables: [...document.querySelectorAll('.bd-article table')].filter(t => t.scrollWidth > t.clientWidth + 1)
          .map(t => getComputedStyle(t).overflowX),
})"""


def _widths(page, url: str, record: dict) -> None:
    """At a laptop's and a phone's width: the page's own width against the window's, and the overflow of its
    tables wider than their box (the page is resized, not reloaded)."""
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        record[name][url] = page.evaluate(_WIDTH_JS)
    page.set_viewport_size(LAPTOP)


@pytest.fixture(scope="module")
def crawl(browser, base_url):
    """Every internal page reached from the front page, loaded once: its problems, links and widths."""
    context = browser.new_context(viewport=LAPTOP)
    page = _recording_page(context)
    todo, seen, anchors, problems, checked, ids_of = [base_url + "index.html"], set(), [], [], {}, {}
    widths = {"laptop": {}, "phone": {}}
    try:
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            page.problems = []
            page.goto(url, wait_until="networkidle")
            found = page.evaluate(_LINKS_JS)
            ids_of[url] = set(found["ids"])
            _widths(page, url, widths)
            problems += [f"{url}: {p}" for p in page.problems]
            problems += [f"{url}: image without alt text: {i['src']}" for i in found["images"]
                         if not i["alt"].strip() or i["alt"].strip() == Path(urlsplit(i["src"]).path).name]
            for link in found["links"] + found["assets"]:
                target, fragment = urldefrag(link)
                if not target.startswith(base_url):
                    continue                                   # another host (Colab): not crawled
                if target.endswith(".html"):
                    todo.append(target)
                    if fragment:
                        anchors.append((url, target, fragment))
                elif target not in checked:
                    checked[target] = _status(target)
    finally:
        context.close()
    problems += [f"broken link or image: {u} (HTTP {s})" for u, s in checked.items() if s >= 400]
    problems += [f"{src}: link to a missing anchor {target}#{frag}" for src, target, frag in anchors
                 if target in ids_of and frag not in ids_of[target]]
    return {"seen": seen, "problems": problems, "widths": widths}


def test_every_page_loads_clean_and_no_link_or_image_is_broken(crawl):
    """Crawl every internal page from the front page: no console error, no failed request, every internal
    link, anchor and image resolves, and every image has an alt text that is not a file name."""
    assert len(crawl["seen"]) >= 10, f"expected the whole site, crawled only {sorted(crawl['seen'])}"
    assert not crawl["problems"], "\n".join(crawl["problems"][:40])


@pytest.mark.parametrize("viewport", ["phone", "laptop"])
def test_no_page_scrolls_sideways_and_wide_tables_scroll_in_their_box(crawl, viewport):
    measured = crawl["widths"][viewport]
    sideways = {url: m["page"] for url, m in measured.items() if m["page"][0] > m["page"][1]}
    assert not sideways, f"pages wider than a {viewport} ([page width, window width]): {sideways}"
    wide = [overflow for m in measured.values() for overflow in m["tables"]]
    assert all(overflow in ("auto", "scroll") for overflow in wide), wide
    if viewport == "phone":
        assert wide, "expected at least one table wider than a phone (notebook 02's)"


def test_search_for_deformable_finds_the_stable_sam_page(new_page, base_url):
    page = new_page()
    page.goto(base_url + "search.html?q=deformable", wait_until="networkidle")
    page.wait_for_selector("#search-results ul li a", timeout=30_000)
    hits = page.eval_on_selector_all("#search-results ul li a", "els => els.map(e => [e.href, e.textContent])")
    assert any("stable_sam" in href and "Stable-SAM" in text for href, text in hits), hits
    assert not page.problems, page.problems


def test_a_figure_of_notebook_02_is_visible(new_page, base_url, browser_out):
    page = new_page()
    page.goto(base_url + NB02, wait_until="networkidle")
    figure = page.locator(".cell_output img").first
    figure.scroll_into_view_if_needed()
    assert figure.is_visible() and figure.evaluate("i => i.complete && i.naturalWidth > 0")
    assert figure.get_attribute("alt").startswith("Figure of notebook 02")
    shot = browser_out / "site_notebook02_figure.png"
    page.screenshot(path=str(shot))
    box = figure.bounding_box()
    pixels = Image.open(io.BytesIO(shot.read_bytes())).convert("L").crop(
        (int(box["x"]), int(max(box["y"], 0)), int(box["x"] + box["width"]), int(min(box["y"] + box["height"], 768))))
    low, high = pixels.getextrema()
    assert high - low > 60, "the figure's part of the screenshot is blank"
    print(f"\n[site] screenshot of notebook 02's figure: {shot}")
    if os.environ.get("GSAM_LAB_SITE"):                 # a real run's site: the README's screenshots
        publish_to_docs(shot, "site_notebook.png")
        page.goto(base_url + "index.html", wait_until="networkidle")
        page.screenshot(path=str(browser_out / "site_front.png"))
        publish_to_docs(browser_out / "site_front.png", "site_front.png")


def test_a_widget_shows_its_screenshot_and_says_it_needs_a_kernel(new_page, base_url):
    page = new_page()
    page.goto(base_url + "notebooks/01_panorama_distortion.html", wait_until="networkidle")
    note = page.locator(".gsam-widget-note").first
    assert "needs a running kernel" in note.inner_text()
    screenshot = page.locator("img[alt^='The distortion explorer']").first
    screenshot.scroll_into_view_if_needed()
    assert screenshot.evaluate("i => i.complete && i.naturalWidth > 0")
    info = page.locator(".gsam-run-info").first
    assert "open in Colab" in info.inner_text() and info.locator("a[download]").count() == 1
