"""Take the README's and the docs' screenshots of the Dagster UI with a real browser.

    make demo                                   # in another terminal: a fresh demo, UI up
    .venv/bin/python docs/screenshots.py        # --url http://127.0.0.1:3001 for another port

Needs Chromium (`apt-get install chromium`), driven headless over its DevTools protocol (some
of the UI's tabs are not addressable by URL: they are clicked). Dagster's "join the community"
dialog is marked seen on the webserver first (its own `setNuxSeen` mutation), so it hides
nothing. Each page is written to docs/img/<name>.png.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect  # installed with dagster-webserver

IMG = Path(__file__).resolve().parent / "img"
PORT = 9333  # the browser's DevTools endpoint, on 127.0.0.1
# name: (path in the UI, what to click in turn (regular expressions of its text; "see: X"
# scrolls X to the top instead), what it shows)
PAGES = {
    "orders_row_count": (
        "/assets/demo/raw/orders",
        ["Plots", "see: Metadata"],  # the Metadata section's plots, by partition (bucket time)
        "orders' count and the band its checks drew, by bucket",
    ),
    "check_partitions": (
        "/assets/demo/raw/payments?view=checks",
        # the check's own Partitions tab; never-judged and passed buckets hidden; the failed one
        ["Partitions", r"Missing\s*\(\d+\)", r"Passed\s*\(\d+\)", r"\d{4}-\d\d-\d\d-\d\d:\d\d"],
        "the payments check's partitions: each judged bucket passed or failed, the failed one open",
    ),
}


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql", json.dumps({"query": query}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


class Browser:
    """Headless Chromium driven over its DevTools protocol: open a page, click, screenshot."""

    def __init__(self, binary: str, size: tuple[int, int] = (1400, 1000)):
        self.profile = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={self.profile.name}",
                f"--remote-debugging-port={PORT}",
                f"--window-size={size[0]},{size[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json/list", timeout=2) as response:
                    pages = [t for t in json.load(response) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        self.page = pages[0]["webSocketDebuggerUrl"]
        self.size = size
        self.calls = 0

    def __enter__(self) -> Browser:
        self._connection = connect(self.page, max_size=2**26)
        self.socket = self._connection.__enter__()
        width, height = self.size
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.__exit__(None, None, None)
        self.process.terminate()
        self.process.wait(10)
        self.profile.cleanup()

    def send(self, method: str, **params) -> dict:
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str, settle: float = 8.0) -> None:
        self.send("Page.navigate", url=url)
        time.sleep(settle)  # the UI loads its data after the page itself

    def click_last(self, pattern: str, settle: float = 5.0) -> None:
        """Click the last element on the page whose text matches the regular expression
        `pattern` whole (a tab's title; a checkbox's label with its count, `Missing.{0,12}`);
        `see: pattern` scrolls that element to the top of the window instead."""
        scroll = pattern.startswith("see: ")
        pattern = pattern.removeprefix("see: ")
        action = "scrollIntoView({block: 'start'})" if scroll else "click()"
        found = self.send(
            "Runtime.evaluate",
            expression=(
                f"(() => {{ const re = new RegExp({json.dumps('^(' + pattern + ')$')}, 's');"
                " const hits = [...document.querySelectorAll('button, [role=tab], a, label, div, span')]"
                ".filter(e => re.test(e.textContent.trim()));"
                f" if (!hits.length) return false; hits[hits.length - 1].{action}; return true; }})()"
            ),
            returnByValue=True,
        )
        if not found["result"].get("value"):
            raise RuntimeError(f"nothing to {'see' if scroll else 'click'} matching {pattern!r}")
        time.sleep(settle)

    def screenshot(self, out: Path) -> None:
        out.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the demo's UI (default %(default)s)")
    parser.add_argument("--only", help="one page: " + ", ".join(PAGES))
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("screenshots: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    _graphql(args.url, "mutation { setNuxSeen }")
    with Browser(browser) as chromium:
        for name, (path, clicks, what) in PAGES.items():
            if args.only and name != args.only:
                continue
            chromium.open(args.url + path)
            for text in clicks:
                chromium.click_last(text)
            out = IMG / f"{name}.png"
            chromium.screenshot(out)
            print(f"{out.relative_to(IMG.parent.parent)}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
