"""A real browser measures the built site: what sticks out of its column.

Headless Chromium, driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ended by a NUL byte on file descriptors 3 and 4), so nothing but the
standard library is needed on this side. The site is served over HTTP on 127.0.0.1 from
its directory, as a reader's browser would get it.

    python -m tests.browser SITE_DIR          # print what does not fit, at 1280 and 390 px

What counts (``MEASURE``, run in the page after MathJax has typeset it): every display
formula, table, code block, figure (``img``, ``svg``) and audio player in the article, at
the window's width. One that is wider than its column — its own box past the column's
right edge, or its content scrolling inside it (``scrollWidth`` beyond ``clientWidth``) —
is reported with its kind, its size and the start of its text.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

TIMEOUT = 120  # seconds without a word from the browser before giving up (a loaded machine is slow)
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    return next((shutil.which(name) for name in CANDIDATES if shutil.which(name)), None)


# Runs in the page. Returns a list of {kind, width, column, text} for what does not fit.
MEASURE = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await document.fonts.ready;
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const column = document.querySelector('.md-content__inner') || document.body;
  const edge = column.getBoundingClientRect();
  const found = [];
  const report = (kind, el, width, room) => found.push({kind, width: Math.round(width), column: Math.round(room),
      text: (el.textContent || el.getAttribute('src') || el.tagName).trim().replace(/\s+/g, ' ').slice(0, 80)});
  const shown = el => !el.closest('details:not([open])') && el.getBoundingClientRect().width > 0;
  const scrolls = el => el.scrollWidth > el.clientWidth + 1;
  const outside = box => box.right > edge.right + 1 || box.left < edge.left - 1;
  // formulas: the typeset math itself (a display container is as wide as the column)
  for (const el of column.querySelectorAll('mjx-container[display="true"]')) {
    const math = el.querySelector('mjx-math') || el;
    if (shown(el) && (scrolls(el) || outside(math.getBoundingClientRect())))
      report('formula', el, math.getBoundingClientRect().width, edge.width);
  }
  // tables: the theme wraps each in a scrolling box
  for (const el of column.querySelectorAll('.md-typeset__scrollwrap')) {
    if (shown(el) && scrolls(el)) report('table', el, el.scrollWidth, el.clientWidth);
  }
  for (const el of column.querySelectorAll('table')) {
    if (shown(el) && !el.closest('.md-typeset__scrollwrap') && (scrolls(el) || outside(el.getBoundingClientRect())))
      report('table', el, el.scrollWidth, edge.width);
  }
  for (const el of column.querySelectorAll('pre > code')) {
    if (shown(el) && scrolls(el)) report('code', el, el.scrollWidth, el.clientWidth);
  }
  for (const el of column.querySelectorAll('img, audio, svg:not(mjx-container svg):not(.md-icon svg)')) {
    if (shown(el) && outside(el.getBoundingClientRect()))
      report(el.tagName === 'AUDIO' ? 'audio' : 'figure', el, el.getBoundingClientRect().width, edge.width);
  }
  return found;
})()
"""


class Chromium:
    """One headless Chromium; ``measure(url, width)`` loads a page and runs MEASURE."""

    def __init__(self, executable: str):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        self._profile = tempfile.mkdtemp(prefix="minis2t-chromium-")

        def descriptors():  # the child reads commands on 3 and writes answers on 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.process = subprocess.Popen(
            [executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             f"--user-data-dir={self._profile}", "about:blank"],
            preexec_fn=descriptors, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=self.session)

    def _read_message(self) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_child], [], [], TIMEOUT)
            if not ready:
                raise TimeoutError(f"Chromium said nothing for {TIMEOUT} s")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read_message()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            # anything else is an event, which no caller here waits for once answered

    def wait_for(self, method: str) -> None:
        while True:
            if self._read_message().get("method") == method:
                return

    def measure(self, url: str, width: int, height: int = 900) -> list[dict]:
        s = self.session
        self.call("Emulation.setDeviceMetricsOverride", session=s, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)  # fmt: skip
        self.call("Page.navigate", session=s, url=url)
        self.wait_for("Page.loadEventFired")
        result = self.call("Runtime.evaluate", session=s, expression=MEASURE, awaitPromise=True,
                           returnByValue=True, timeout=30000)  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{url}: {result['exceptionDetails']}")
        return result["result"]["value"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self._profile, ignore_errors=True)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the browser dropping a request it no longer needs (a page left) is no error here


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def pages(site: Path) -> list[str]:
    """Every page of the site, as a path under it (``frames/``), the 404 page left out."""
    return sorted(p.parent.relative_to(site).as_posix() + "/" if p.name == "index.html" else p.relative_to(site).as_posix()
                  for p in site.rglob("index.html"))  # fmt: skip


def overflows(site: Path, widths=(1280, 390), executable: str | None = None) -> dict:
    """``{(page, width): [what does not fit, …]}`` for every page at every width."""
    browser = Chromium(executable or find_chromium())
    server, base = serve(site)
    found = {}
    try:
        for page in pages(site):
            for width in widths:
                items = browser.measure(base + ("" if page == "./" else page), width)
                if items:
                    found[(page, width)] = items
    finally:
        browser.close()
        server.shutdown()
    return found


if __name__ == "__main__":
    report = overflows(Path(sys.argv[1]))
    for (page, width), items in report.items():
        for item in items:
            print(f"{width:5d} {page:40s} {item['kind']:8s} {item['width']:5d} > {item['column']:5d}  {item['text']!r}")
    print(f"{sum(len(v) for v in report.values())} items wider than their column")
