"""The built book, opened page by page in headless Chromium with no network, works as a reader sees it.

The module builds the book (`jupyter-book build . -W -n --keep-going --all`) into `_build/browser-test/`,
serves the HTML on 127.0.0.1 from a thread, and opens every page of the build in Debian's Chromium,
driven by Playwright. Each check is its own test, so that a failure names what is wrong:

- the build passes with `-W -n` (no Sphinx warning) and has a page for every file of `_toc.yml`;
- no page raises a JavaScript error or logs a console error (see "Allowed" below);
- every image served by the book loads (`naturalWidth > 0`), and every file the pages ask the local
  server for exists;
- every internal link (`<a href>` on the same host) resolves to a file, and its `#fragment`, if any,
  names an element of the target page;
- every notebook page (a `_toc.yml` file that is a notebook in `notebooks/`) has the Colab launch button,
  pointing to that notebook on GitHub;
- no notebook cell output renders empty: the static page has no kernel and, offline, no widget manager,
  so an ipywidget leaves an empty hole; an explorer must also leave a figure or a table;
- math is typeset on every page that has some (it is raw TeX if MathJax cannot load);
- no code block, code cell or cell output is wider than its box at a 1280-pixel-wide window (the reader
  would have to scroll sideways);
- every chapter has at least three exercises, each followed by a collapsed "Hint" and a collapsed
  "Solution" (admonitions with the dropdown class), and at least three of them are tagged "(CPU";
- `index.html` leads to the first page of `_toc.yml`.

Full-page screenshots of the first pages of `_toc.yml` are written to `_build/browser-test/screenshots/`,
and a summary of what every page did (errors, external requests, outputs) to
`_build/browser-test/report.json`, for a person to look at.

Offline, and what counts as ours. Chromium runs with no network: background services are off, every
host but 127.0.0.1 resolves to nothing, and every request for another host is aborted and recorded.
The build itself references a few outside URLs (measured by grepping the HTML for `src=`/`href=`):

- MathJax from cdn.jsdelivr.net, on every page with math (Sphinx's default `mathjax_path`). Offline
  the math then shows as raw TeX: a defect a reader sees, so the math test fails until the book ships
  MathJax itself rather than only recording the request.
- require.js (cdnjs) and the Jupyter widget manager (cdn.jsdelivr.net), on pages whose notebook stores
  widget state. Blocked, they raise no JavaScript error; what the reader loses is the widget itself,
  which the empty-output test catches.
- The "Open in Colab" badge image (colab.research.google.com) in each notebook's first cell. Offline
  it shows its alt text, "Open In Colab", beside a link that needs the network anyway: recorded, not
  a failure. The images that must load are the book's own.

Any other outside request fails the test, so that a new dependency on the network is a decision.
"Failed to load resource" console messages for these blocked requests are the browser reporting our
own block; they are recorded with the requests, not counted as JavaScript errors.

Allowed: one JavaScript error that the book cannot fix within jupyter-book<2 (which requires
Sphinx 7): Sphinx 7 writes inline scripts that extensions add after the builder starts twice into each
page, so sphinx-thebe's `const THEBE_JS_URL` is declared twice and the second copy throws
"Identifier 'THEBE_JS_URL' has already been declared" (fixed in Sphinx 8, sphinx-doc/sphinx#13402).
The first copy has run, and launch buttons do not use thebe here, so a reader loses nothing.

Driver: Playwright for Python, with Debian's `/usr/bin/chromium` as `executable_path` (its own browser
download needs the network). It reports console messages, uncaught errors, failed requests and
responses as events, aborts and records outside requests in-process, and takes full-page screenshots,
all from one `pip install`; Selenium would need chromedriver plus the Chrome DevTools Protocol for the
same. Chromium is found as $TMML_CHROMIUM, `chromium` on PATH or /usr/bin/chromium; without it, or
without Playwright or Jupyter Book, the module is skipped, unless TMML_REQUIRE_BROWSER=1 (set by
.ci/run, which installs Chromium with apt) turns the skip into a failure.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "browser-test"
HTML = OUT / "_build" / "html"
SCREENSHOTS = OUT / "screenshots"
N_SCREENSHOTS = 3
COLAB_PREFIX = "https://colab.research.google.com/github/"

# Outside URLs that the built book may reference, with the reason each is acceptable (see the docstring).
ALLOWED_EXTERNAL = {
    "https://cdn.jsdelivr.net/npm/mathjax@": "MathJax (Sphinx default); the math test checks it typesets",
    "https://cdnjs.cloudflare.com/ajax/libs/require.js/": "widget manager loader (pages with widget state)",
    "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@": "widget manager (pages with widget state)",
    "https://colab.research.google.com/assets/colab-badge.svg": "Open in Colab badge image (alt text offline)",
}
# JavaScript errors that the book cannot fix within jupyter-book<2 (see the docstring).
ALLOWED_PAGE_ERRORS = {
    "Identifier 'THEBE_JS_URL' has already been declared": "Sphinx 7 duplicates inline scripts (sphinx#13402)",
}

# Playwright adds --headless and a fresh, empty --user-data-dir itself.
CHROMIUM_ARGS = [
    "--no-sandbox",  # we may be root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # No name but 127.0.0.1 resolves: nothing can leave the machine, whatever the page asks for.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


# ---------------------------------------------------------------------------------------------------------
# What is needed, and skipping without it


def _chromium() -> str | None:
    for candidate in (os.environ.get("TMML_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _jupyter_book() -> str | None:
    beside = Path(sys.executable).parent / "jupyter-book"
    return str(beside) if beside.exists() else shutil.which("jupyter-book")


def _missing() -> list[str]:
    missing = []
    if _chromium() is None:
        missing.append("Chromium (apt-get install chromium, or set TMML_CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the Python package playwright (pip install -e '.[test]')")
    if _jupyter_book() is None:
        missing.append("jupyter-book (pip install -e '.[book]')")
    return missing


@pytest.fixture(scope="module")
def requirements():
    missing = _missing()
    if missing:
        message = "browser test needs " + "; ".join(missing)
        if os.environ.get("TMML_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (TMML_REQUIRE_BROWSER=1)")
        pytest.skip(message)


# ---------------------------------------------------------------------------------------------------------
# Pages of _toc.yml


def toc_files() -> list[str]:
    """The `file:` entries of _toc.yml in reading order, without suffix (root first)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [re.sub(r"\.(md|ipynb|rst)$", "", f) for f in files]


def is_notebook(docname: str) -> bool:
    return docname.startswith("notebooks/") and (ROOT / f"{docname}.ipynb").exists()


# ---------------------------------------------------------------------------------------------------------
# Build and serve


@dataclass
class Build:
    returncode: int
    log: str
    seconds: float


@pytest.fixture(scope="module")
def build(requirements) -> Build:
    # Start from nothing: --all rereads every page, but a page dropped from _toc.yml would stay behind.
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    cmd = [_jupyter_book(), "build", str(ROOT), "-W", "-n", "--keep-going", "--all", "--path-output", str(OUT)]
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    (OUT / "build.log").write_text(log)
    if not (HTML / "index.html").exists():
        pytest.fail(f"the book build wrote no HTML (exit {result.returncode}); log:\n{log[-4000:]}")
    return Build(result.returncode, log, time.monotonic() - start)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(build):
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# Visit every page once; the tests below read what was seen.

# Runs in the page after load: images, links, cell outputs and math, as the reader's browser shows them.
INSPECT_JS = """
() => {
  const visible = (el) => (el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null);
  const images = Array.from(document.images).map((img) => ({
    src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0,
  }));
  const links = Array.from(document.querySelectorAll('a[href]')).map((a) => a.href);
  const colab = Array.from(document.querySelectorAll('.dropdown-launch-buttons a[href]'))
    .map((a) => a.href).filter((href) => href.startsWith('https://colab.research.google.com/'));
  const launchToggle = document.querySelector('.dropdown-launch-buttons > button');
  const cells = Array.from(document.querySelectorAll('div.cell'));
  const outputs = Array.from(document.querySelectorAll('div.cell_output')).map((el) => {
    const cell = el.closest('div.cell');
    let heading = null;
    const section = el.closest('section');
    if (section) {
      const h = section.querySelector('h1, h2, h3, h4');
      if (h) heading = h.textContent.replace('#', '').trim();
    }
    const code = cell ? cell.querySelector('.cell_input pre') : null;
    // Pictures and tables of the output itself, not the icons of the copy button.
    const media = Array.from(el.querySelectorAll('img, svg, canvas, video, iframe, table'))
      .filter((m) => !m.closest('button')).length;
    const text = (el.innerText || el.textContent || '').trim().length;
    return {
      cell: cells.indexOf(cell) + 1, heading,  // 1-based, among the code cells of the page
      code: code ? code.textContent.trim().split('\\n').slice(0, 3).join(' | ') : null,
      height: el.getBoundingClientRect().height, visible: visible(el), text, media,
      html: el.innerHTML.trim().slice(0, 200),
    };
  });
  const math = Array.from(document.querySelectorAll('.math'));
  const rawMath = math.filter((el) => !el.querySelector('mjx-container') && !el.closest('mjx-container'))
    .map((el) => el.textContent.trim().slice(0, 60));
  const ids = Array.from(document.querySelectorAll('[id]')).map((el) => el.id)
    .concat(Array.from(document.querySelectorAll('a[name]')).map((el) => el.getAttribute('name')));
  // Code blocks and cell outputs wider than their box: the reader would have to scroll sideways.
  const longest = (el) => (el.textContent || '').split('\\n').reduce((a, b) => (a.length >= b.length ? a : b), '');
  const overflowing = Array.from(document.querySelectorAll('article pre, article div.cell_output > div'))
    .filter((el) => visible(el) && el.scrollWidth > el.clientWidth + 1)
    .map((el) => ({
      kind: el.closest('div.cell_output') ? 'output' : (el.closest('div.cell_input') ? 'code cell' : 'code block'),
      scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, line: longest(el).trim().slice(0, 100),
    }));
  // Exercises: each paragraph "Exercise N ..." of a section whose id starts with "exercises", and the
  // admonitions that follow it up to the next exercise.
  const exercises = Array.from(document.querySelectorAll('section[id^="exercises"]')).map((section) => {
    const items = [];
    for (const el of section.querySelectorAll(':scope > *')) {
      const text = (el.textContent || '').trim();
      if (el.tagName === 'P' && /^Exercise \\d+/.test(text)) {
        items.push({lead: text.slice(0, 60), admonitions: []});
      } else if (items.length && el.classList.contains('admonition')) {
        const title = el.querySelector('.admonition-title');
        items[items.length - 1].admonitions.push({
          title: title ? title.textContent.trim() : '', dropdown: el.classList.contains('dropdown'),
        });
      }
    }
    return {id: section.id, items};
  });
  return {
    title: document.title, images, links, colab, ids, outputs, overflowing, exercises,
    launchToggleVisible: launchToggle ? visible(launchToggle) : false,
    math: math.length, rawMath, mathjaxLoaded: typeof (window.MathJax || {}).typesetPromise === 'function',
    bodyText: (document.body.innerText || '').trim().length,
  };
}
"""

# Resolves once MathJax, if it loaded, has typeset the page.
MATHJAX_DONE_JS = """
async () => {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { await mj.startup.promise; }
}
"""


@dataclass
class Visit:
    docname: str  # page path without .html, relative to the HTML root
    url: str
    info: dict = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # outside URLs the page asked for (blocked)
    local_failures: list[str] = field(default_factory=list)  # local requests that failed or got >= 400
    seconds: float = 0.0


def book_pages() -> list[str]:
    """Every HTML page of the build (not the theme's templates or the copied sources), as docnames."""
    pages = []
    for path in sorted(HTML.rglob("*.html")):
        rel = path.relative_to(HTML).as_posix()
        if rel.split("/")[0] in ("_static", "_sources", "_images") or rel == "index.html":
            continue
        pages.append(rel[: -len(".html")])
    return pages


def ordered_pages() -> list[str]:
    """_toc.yml's pages in reading order, then the other pages of the build (index, search, ...)."""
    found = book_pages()
    toc = [d for d in toc_files() if d in found]
    return toc + [d for d in found if d not in toc]


@pytest.fixture(scope="module")
def visits(build, server) -> dict[str, Visit]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    toc = toc_files()
    results: dict[str, Visit] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
            current: list[Visit] = []

            def route(r):
                if r.request.url.startswith(server) or r.request.url.startswith(("data:", "blob:")):
                    r.continue_()
                else:
                    if current:
                        current[0].external.append(r.request.url)
                    r.abort("blockedbyclient")

            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(30_000)

            def on_console(msg):
                if msg.type != "error" or not current:
                    return
                where = (msg.location or {}).get("url", "")
                if msg.text.startswith("Failed to load resource") and where and not where.startswith(server):
                    return  # our own block of an outside URL: recorded in `external`
                current[0].console_errors.append(f"{msg.text} ({where})")

            def on_response(response):
                if current and response.url.startswith(server) and response.status >= 400:
                    current[0].local_failures.append(f"{response.status} {response.url}")

            def on_failed(request):
                if current and request.url.startswith(server):
                    current[0].local_failures.append(f"{request.failure} {request.url}")

            page.on("console", on_console)
            def on_page_error(exc):
                if current:
                    current[0].page_errors.append(getattr(exc, "message", str(exc)))

            page.on("pageerror", on_page_error)
            page.on("response", on_response)
            page.on("requestfailed", on_failed)

            shots = 0
            for docname in ordered_pages():
                visit = Visit(docname, urllib.parse.urljoin(server, docname + ".html"))
                current[:] = [visit]
                start = time.monotonic()
                try:
                    page.goto(visit.url, wait_until="load")
                    page.evaluate(MATHJAX_DONE_JS)
                except PlaywrightError as exc:  # recorded; the page's other checks still run
                    visit.local_failures.append(f"page did not load: {exc.message.splitlines()[0]}")
                visit.info = page.evaluate(INSPECT_JS)
                if docname in toc and shots < N_SCREENSHOTS:
                    shots += 1
                    name = f"{shots:02d}-{docname.replace('/', '-')}.png"
                    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
                visit.seconds = time.monotonic() - start
                results[docname] = visit

            # The landing page: index.html sends the reader to the first page of _toc.yml.
            current[:] = []
            try:
                page.goto(urllib.parse.urljoin(server, "index.html"), wait_until="load")
                page.wait_for_url(re.compile(re.escape(toc[0]) + r"\.html"), timeout=10_000)
            except PlaywrightError:
                pass  # test_index_leads_to_the_first_page reports where it went
            results["index"] = Visit("index", page.url)
        finally:
            browser.close()

    report: dict = {"build": {"returncode": build.returncode, "seconds": round(build.seconds, 1)}}
    report["pages"] = {
        d: {
            "url": v.url, "seconds": round(v.seconds, 2), "page_errors": v.page_errors,
            "console_errors": v.console_errors, "external": sorted(set(v.external)),
            "local_failures": v.local_failures,
            "outputs": v.info.get("outputs", []), "math": v.info.get("math"),
            "raw_math": len(v.info.get("rawMath", [])),
        }
        for d, v in results.items()
    }
    (OUT / "report.json").write_text(json.dumps(report, indent=1))
    return results


def pages_only(visits: dict[str, Visit]) -> list[Visit]:
    return [v for d, v in visits.items() if d != "index"]


# ---------------------------------------------------------------------------------------------------------
# The checks


def test_book_builds_without_warnings(build):
    warnings = [line for line in build.log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert build.returncode == 0, (
        f"jupyter-book build -W -n exited {build.returncode}; {len(warnings)} warnings/errors, first ones:\n"
        + "\n".join(warnings[:20])
    )


def test_every_toc_file_has_a_page(build):
    missing = [d for d in toc_files() if not (HTML / f"{d}.html").exists()]
    assert not missing, f"_toc.yml files with no HTML page in the build: {missing}"


def test_index_leads_to_the_first_page(visits):
    first = toc_files()[0] + ".html"
    assert visits["index"].url.endswith(first), f"index.html went to {visits['index'].url}, not {first}"


def test_no_javascript_errors(visits):
    problems = []
    for v in pages_only(visits):
        errors = [e for e in v.page_errors if e not in ALLOWED_PAGE_ERRORS] + v.console_errors
        problems += [f"{v.docname}: {e}" for e in errors]
    assert not problems, "JavaScript errors:\n" + "\n".join(problems)


def test_no_unexpected_outside_requests(visits):
    unexpected = sorted({
        f"{v.docname}: {url}"
        for v in pages_only(visits) for url in v.external
        if not any(url.startswith(prefix) for prefix in ALLOWED_EXTERNAL)
    })
    assert not unexpected, (
        "pages ask for outside URLs that do not load offline (allow one in ALLOWED_EXTERNAL only with a "
        "reason, or ship the file with the book):\n" + "\n".join(unexpected)
    )


def test_every_local_resource_loads(visits, server):
    problems = []
    for v in pages_only(visits):
        problems += [f"{v.docname}: {f}" for f in v.local_failures]
        for img in v.info["images"]:
            if img["src"].startswith(server) and not img["ok"]:
                problems.append(f"{v.docname}: image does not load: {img['src']}")
    assert not problems, "\n".join(problems)


def test_pages_have_content(visits):
    empty = [v.docname for v in pages_only(visits) if v.info["bodyText"] < 50]
    assert not empty, f"pages that render (almost) no text: {empty}"


def _ids_of(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        text = path.read_text(errors="replace")
        cache[path] = set(re.findall(r'\bid="([^"]+)"', text)) | set(re.findall(r'<a [^>]*\bname="([^"]+)"', text))
    return cache[path]


def test_internal_links_resolve(visits, server):
    status: dict[str, int] = {}
    ids: dict[Path, set[str]] = {}
    broken = set()
    for v in pages_only(visits):
        own_ids = set(v.info["ids"])
        for href in v.info["links"]:
            if not href.startswith(server):
                continue  # outside links (GitHub, Colab, papers) are not ours to check offline
            url, _, fragment = href.partition("#")
            fragment = urllib.parse.unquote(fragment)
            if url not in status:
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as r:
                        status[url] = r.status
                except urllib.error.HTTPError as exc:
                    status[url] = exc.code
            if status[url] != 200:
                broken.add(f"{v.docname}: {href} -> HTTP {status[url]}")
                continue
            if not fragment:
                continue
            target = urllib.parse.unquote(urllib.parse.urlparse(url).path).lstrip("/") or "index.html"
            if url == v.url:
                known = own_ids
            elif target.endswith(".html"):
                known = _ids_of(HTML / target, ids)
            else:
                continue
            if fragment not in known:
                broken.add(f"{v.docname}: {href} -> no element with id {fragment!r}")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(broken))


def test_notebook_pages_have_the_colab_launch_button(visits):
    notebooks = [d for d in toc_files() if is_notebook(d)]
    assert notebooks, "no notebook pages found in _toc.yml"
    problems = []
    for d in notebooks:
        v = visits[d]
        expected = [u for u in v.info["colab"] if u.startswith(COLAB_PREFIX) and u.endswith(f"/{d}.ipynb")]
        if not expected:
            problems.append(f"{d}: no launch link {COLAB_PREFIX}.../{d}.ipynb (found {v.info['colab']})")
        elif not v.info["launchToggleVisible"]:
            problems.append(f"{d}: the launch-buttons menu is not visible")
    assert not problems, "\n".join(problems)


def test_no_notebook_output_renders_empty(visits):
    empty = []
    for v in pages_only(visits):
        for out in v.info["outputs"]:
            has_content = out["text"] > 0 or out["media"] > 0
            if not has_content or (out["visible"] and out["height"] < 1):
                empty.append(
                    f"{v.docname}, code cell {out['cell']} of the page (section {out['heading']!r}, "
                    f"code {out['code']!r}): "
                    f"height {out['height']:.0f}px, renders {out['html']!r}"
                )
    assert not empty, (
        "cell outputs that render empty on the static page (an ipywidget needs a kernel; leave a figure or "
        "table, or hide the widget's output from the book):\n" + "\n".join(empty)
    )


def test_math_is_typeset(visits):
    problems = []
    for v in pages_only(visits):
        if v.info["math"] and v.info["rawMath"]:
            why = "" if v.info["mathjaxLoaded"] else " (MathJax did not load; outside URLs are blocked)"
            problems.append(
                f"{v.docname}: {len(v.info['rawMath'])} of {v.info['math']} formulas shown as raw TeX{why}, "
                f"e.g. {v.info['rawMath'][0]!r}"
            )
    assert not problems, "\n".join(problems)


def test_screenshots_written(visits):
    shots = sorted(SCREENSHOTS.glob("*.png"))
    assert len(shots) == min(N_SCREENSHOTS, len([d for d in toc_files() if d in visits])), shots
    assert all(s.stat().st_size > 10_000 for s in shots), [(s.name, s.stat().st_size) for s in shots]


def test_no_code_or_output_scrolls_sideways(visits):
    wide = [f"{v.docname}: {o['kind']} {o['scrollWidth']}px in a {o['clientWidth']}px box: {o['line']!r}"
            for v in pages_only(visits) for o in v.info["overflowing"]]
    assert not wide, (f"{len(wide)} code blocks or outputs scroll sideways at book width (break the line, or "
                      "print a narrower table):\n" + "\n".join(wide))


def test_every_exercise_has_a_hint_and_a_solution(visits):
    problems = []
    for d in [d for d in toc_files() if is_notebook(d)]:
        items = [item for section in visits[d].info["exercises"] for item in section["items"]]
        if len(items) < 3:
            problems.append(f"{d}: {len(items)} exercises (paragraphs 'Exercise N' under '## Exercises'), need 3")
        if sum("(CPU" in item["lead"] for item in items) < 3:
            problems.append(f"{d}: fewer than three exercises tagged '(CPU' (doable on a laptop in minutes)")
        for item in items:
            seen = [(a["title"], a["dropdown"]) for a in item["admonitions"]]
            if seen != [("Hint", True), ("Solution", True)]:
                problems.append(f"{d}: {item['lead']!r} is followed by {seen}, not a collapsed Hint then Solution")
    assert not problems, "\n".join(problems)
