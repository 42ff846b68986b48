"""The documentation site as a reader gets it: `mkdocs build --strict`, served over HTTP on
localhost, and every page opened in headless Chromium (Debian's, driven by Playwright).

For each page: it answers 200, every same-site resource it loads answers below 400, every
`<a href>` to this site answers 200 and its `#fragment` names an element of the target page,
and every `<img>` has loaded (naturalWidth > 0). The pages are found by following links from
the home page, and must be exactly the pages the build wrote: none unreachable.

Chromium is `CHROMIUM` or /usr/bin/chromium (`scripts/bootstrap.sh test` installs it). Without
it the test is skipped on a developer's machine and fails under CI (`CI` set).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
# What a page shows the test: the ids fragments can name, its links, its images.
PAGE_FACTS = """() => ({
  ids: Array.from(document.querySelectorAll("[id], a[name]")).map(e => e.id || e.name),
  links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
  images: Array.from(document.images).map(i => ({
    src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
})"""


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (scripts/bootstrap.sh test installs it): CI must run this test")
    pytest.skip(what)


def build_site(out: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,  # snippets (examples/batch.sh) are read relative to the repository root
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a load the browser cut off
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The built site and the URL it is served at (a real HTTP server on 127.0.0.1)."""
    out = tmp_path_factory.mktemp("site")
    build_site(out)
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def crawl(base: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Open every page reachable from ``base`` in Chromium: {page url: facts}, and what
    went wrong while loading (a page not 200, a same-site resource that failed)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (it is in the `test` extra)")
    pages: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)  # fmt: skip
        page = browser.new_page()

        def on_response(reply: Any) -> None:
            if reply.url.startswith(base) and reply.status >= 400:
                problems.append(f"{reply.url}: HTTP {reply.status} (loaded by {page.url})")

        def on_failed(request: Any) -> None:
            # ERR_ABORTED is a late load (favicon, search worker) cut off by the next goto;
            # a missing file still shows, as its HTTP status in on_response.
            failure = request.failure or ""
            if request.url.startswith(base) and "ERR_ABORTED" not in failure:
                problems.append(f"{request.url}: {failure} (loaded by {page.url})")

        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        queue = [base]
        while queue:
            url = queue.pop(0)
            if url in pages:
                continue
            reply = page.goto(url, wait_until="load")
            if reply is None or reply.status != 200:
                problems.append(f"{url}: HTTP {reply.status if reply else 'no reply'}")
            pages[url] = page.evaluate(PAGE_FACTS)
            for link in pages[url]["links"]:
                target = urldefrag(link).url
                if target.startswith(base) and target.endswith("/") and target not in pages:
                    queue.append(target)
        browser.close()
    return pages, problems


def check_site(out: Path, base: str) -> list[str]:
    """Everything a reader would trip over, one line each."""
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM} (set CHROMIUM, or apt-get install chromium)")
    pages, problems = crawl(base)
    built = {urljoin(base, p.parent.relative_to(out).as_posix() + "/")
             for p in out.rglob("index.html")}  # fmt: skip
    built = {url.replace(f"{base}./", base) for url in built}
    problems += [f"{url}: built but not linked from any page" for url in sorted(built - set(pages))]
    problems += [f"{url}: linked but not built" for url in sorted(set(pages) - built)]
    checked: dict[str, int] = {}
    for url, facts in pages.items():
        for link in facts["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith(base):
                continue  # other sites are not ours to check (and unreachable here)
            if target not in checked:
                checked[target] = _status(target)
            if checked[target] != 200:
                problems.append(f"{url}: link {link} answers HTTP {checked[target]}")
            elif fragment and target in pages and unquote(fragment) not in pages[target]["ids"]:
                problems.append(f"{url}: link {link}: no element with id {fragment!r} there")
        problems += [f"{url}: image {image['src']} did not load"
                     for image in facts["images"] if not image["ok"]]  # fmt: skip
    return problems


@pytest.mark.slow  # ~7 s: the build, then 21 pages in the browser
def test_every_page_link_and_image_of_the_site(site: tuple[Path, str]) -> None:
    out, base = site
    problems = check_site(out, base)
    assert not problems, "\n".join(problems)
    # The crawl really covered the site: the pages the nav promises, the benchmark plots.
    for page in ("quickstart", "batch", "operations", "settings", "cli", "benchmarks"):
        assert (out / page / "index.html").exists()
    plots = sorted(p.name for p in (out / "images" / "bench").glob("*.png"))
    assert len(plots) >= 4, plots
    benchmarks = (out / "benchmarks" / "index.html").read_text()
    for name in plots:
        assert f'src="../images/bench/{name}"' in benchmarks


def test_the_plot_script_draws_every_image_the_benchmarks_page_shows(tmp_path: Path) -> None:
    """bench/plots.py, run on the committed results, writes exactly the images the page
    embeds (and the ones committed), each a real PNG."""
    proc = subprocess.run([sys.executable, "bench/plots.py", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    committed = sorted(p.name for p in (ROOT / "docs/images/bench").glob("*.png"))
    page = (ROOT / "docs/benchmarks.md").read_text()
    embedded = sorted(name for name in committed if f"(images/bench/{name})" in page)
    assert drawn == committed == embedded, (drawn, committed, embedded)
    for name in drawn:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 500 and height >= 300, (name, width, height)
