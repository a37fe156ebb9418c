"""Open a page in headless Chromium and report what a person's browser would see.

:func:`open_page` starts ``/usr/bin/chromium`` with the DevTools protocol on a pipe
(``--remote-debugging-pipe``: file descriptors 3 and 4, JSON messages ending in a NUL
byte — no websocket library needed), loads a ``file://`` URL with the network cut off,
and returns every request the page made, every request that failed, every console
message and exception, any JavaScript dialog, the values of JavaScript expressions
evaluated after the load, and a full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def available() -> bool:
    return Path(CHROMIUM).exists()


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int):
        self.write_fd, self.read_fd, self.buffer, self.next_id = write_fd, read_fd, b"", 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def read(self, timeout: float) -> dict | None:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.read_fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.read(max(0.01, deadline - time.monotonic()))
            if message is None:
                break
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(f"{method}: no answer in {timeout} s")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.read(max(0.01, deadline - time.monotonic()))
            if message is None:
                return
            self.events.append(message)


def _above_four(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


def open_page(path: Path, expressions: dict[str, str] | None = None, width: int = 1000,
              timeout: float = 90) -> dict:  # fmt: skip
    """Load ``path`` from disk and return ``{"requests": [urls], "failed": [(url, error)],
    "console": [(level, text)], "exceptions": [text], "dialogs": [text], "values": {name:
    value}, "screenshot": PNG bytes}``."""
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    # the child's ends above 4, so that putting them on 3 and 4 overwrites neither
    to_chrome_r, from_chrome_w = (_above_four(fd) for fd in (to_chrome_r, from_chrome_w))
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    log = open(Path(profile).parent / (Path(profile).name + ".log"), "wb")

    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
            "--disable-background-networking", "--disable-extensions", "about:blank"]  # fmt: skip
    # chromium reads commands on fd 3 and writes answers on fd 4: bash puts the pipes there (dash takes one-digit fds only)
    command = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
    process = subprocess.Popen(["bash", "-c", command, "bash", *args], pass_fds=(to_chrome_r, from_chrome_w),
                               stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(to_chrome_w, from_chrome_r)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                        "uploadThroughput": -1}, session=session)  # fmt: skip
        pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": 800, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)  # fmt: skip
        pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in pipe.events):
            if time.monotonic() > deadline:
                raise TimeoutError("the page did not finish loading")
            pipe.drain(0.5)
        pipe.drain(1.0)  # late requests, errors
        values = {name: pipe.call("Runtime.evaluate", {"expression": js, "returnByValue": True},
                                  session=session).get("result", {}).get("value")
                  for name, js in (expressions or {}).items()}  # fmt: skip
        metrics = pipe.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
            "x": 0, "y": 0, "width": width, "height": min(metrics["height"], 16000), "scale": 1}}, session=session)
        events = pipe.events
        return {
            "requests": [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"],
            "failed": [(e["params"].get("requestId"), e["params"].get("errorText")) for e in events
                       if e.get("method") == "Network.loadingFailed"],
            "console": [(e["params"]["type"], " ".join(str(a.get("value", a.get("description", "")))
                                                       for a in e["params"].get("args", [])))
                        for e in events if e.get("method") == "Runtime.consoleAPICalled"]
            + [(e["params"]["entry"]["level"], e["params"]["entry"]["text"]) for e in events
               if e.get("method") == "Log.entryAdded"],
            "exceptions": [json.dumps(e["params"]["exceptionDetails"])[:500] for e in events
                           if e.get("method") == "Runtime.exceptionThrown"],
            "dialogs": [e["params"].get("message") for e in events if e.get("method") == "Page.javascriptDialogOpening"],
            "values": values,
            "screenshot": base64.b64decode(shot["data"]),
        }  # fmt: skip
    finally:
        try:
            pipe.send("Browser.close")
            process.wait(timeout=10)
        except Exception:
            process.kill()
            process.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        log.close()
        Path(log.name).unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
