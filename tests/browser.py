"""Drive headless Chromium through the DevTools protocol, with the standard library only.

Tests use it to open a report the way a person would and to prove three things a
static check cannot: nothing is logged as an error, no request leaves the file, and
the page looks right (a screenshot is saved for a person to look at). The DevTools
protocol streams every console message, uncaught exception, log entry and network
request of the page, so an empty list is evidence, not the absence of a check.

Chromium is required: a missing binary raises `BrowserMissing`, which fails the test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("PARTNERSCORE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1")
TIMEOUT = 15.0


class BrowserMissing(RuntimeError):
    """Chromium is not installed where the tests expect it."""


class BrowserError(RuntimeError):
    """Chromium did not start, or answered a command with an error."""


def _find_chromium(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        raise BrowserMissing(f"{binary} not found: install it (apt-get install -y chromium) "
                             "or set PARTNERSCORE_CHROMIUM; the browser tests cannot run without it")
    return found


class _WebSocket:
    """A minimal RFC 6455 client: masked text frames out, text frames in (no extensions)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        self.stream = self.sock.makefile("rb")
        status = self.stream.readline()
        if b" 101 " not in status:
            raise BrowserError(f"websocket handshake refused: {status!r}")
        while self.stream.readline() not in (b"\r\n", b""):
            pass

    def send(self, text: str) -> None:
        self._frame(0x1, text.encode())

    def _frame(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = secrets.token_bytes(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if data is None or len(data) < n:
            raise BrowserError("the browser closed the DevTools connection")
        return data

    def receive(self) -> str:
        """The next complete text message (answers pings, joins fragments)."""
        parts: list[bytes] = []
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(size)
            opcode = first & 0x0F
            if opcode == 0x9:
                self._frame(0xA, payload)
            elif opcode == 0x8:
                raise BrowserError("the browser closed the DevTools connection")
            elif opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._frame(0x8, b"")
        self.sock.close()


@dataclass
class Page:
    """One browser tab, with everything it logged and requested since it was opened."""

    ws: _WebSocket
    events: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a DevTools command and return its result; events met meanwhile are kept."""
        self._next_id += 1
        self.ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Wait until the page emits the event `method`; returns its parameters."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["method"] == method:
                    return dict(event.get("params", {}))
            message = json.loads(self.ws.receive())
            if "method" in message:
                self.events.append(message)
        raise BrowserError(f"no {method} within {timeout} s")

    def open(self, path: Path, width: int = 1366, height: int = 768) -> Page:
        """Load a local file at a laptop's screen size and wait until it has loaded."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        self.evaluate("document.readyState")  # the answer comes after every event before it
        return self

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (for checks, not the report)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def requests(self) -> list[str]:
        """Every URL the page asked for, the page itself included."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    @property
    def messages(self) -> list[tuple[str, str]]:
        """(level, text) of every console call, uncaught exception and browser log entry."""
        out: list[tuple[str, str]] = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                out.append((params["type"], text))
            elif event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append(("error", details.get("exception", {}).get("description", details["text"])))
            elif event["method"] == "Log.entryAdded":
                out.append((params["entry"]["level"], params["entry"]["text"]))
        return out

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads, CSP)."""
        return [text for level, text in self.messages if level in ("error", "assert")]

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """Save a PNG of the viewport, or of the element `selector` at its full size."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            box = self.evaluate(
                f"(() => {{const r = document.querySelector({json.dumps(selector)})"
                ".getBoundingClientRect(); return {x: r.left + scrollX, y: r.top + scrollY, "
                "width: r.width, height: r.height};})()")
            params.update(clip={**box, "scale": 1}, captureBeyondViewport=True)
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self) -> bytes:
        """The page printed to PDF with its print style sheet (A4)."""
        data = self.call("Page.printToPDF", printBackground=True, paperWidth=8.27,
                         paperHeight=11.69, preferCSSPageSize=True)["data"]
        return base64.b64decode(data)


class Chromium:
    """A headless Chromium with a fresh profile, started and stopped as a context manager."""

    def __init__(self, profile: Path, binary: str = CHROMIUM) -> None:
        self.binary = _find_chromium(binary)
        self.profile = profile
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._pages: list[Page] = []

    def __enter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        log = (self.profile.parent / f"{self.profile.name}-stderr.log").open("wb")
        self.process = subprocess.Popen(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.port = self._wait_for_port()
        return self

    def _wait_for_port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with status {self.process.returncode}")
            lines = marker.read_text().splitlines() if marker.exists() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium gave no DevTools port within {TIMEOUT} s")

    def page(self) -> Page:
        """Connect to the blank tab Chromium opened at start."""
        url = f"http://127.0.0.1:{self.port}/json/list"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:  # local DevTools only
                targets = [t for t in json.load(answer) if t.get("type") == "page"]
            if targets:
                page = Page(_WebSocket(targets[0]["webSocketDebuggerUrl"], TIMEOUT))
                self._pages.append(page)
                return page
            time.sleep(0.05)
        raise BrowserError("chromium opened no tab")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for page in self._pages:
            page.ws.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this helper started
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

