"""The report renders in headless Chromium: a screenshot is produced, every image decodes, and the
page logs no console error and throws no exception (checked over the DevTools protocol)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1200,1600"]


def render_in_chromium(html: Path, tmp: Path) -> dict:
    """Load ``html`` in headless Chromium; return console errors, broken images and a screenshot."""
    tornado_ws = pytest.importorskip("tornado.websocket")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}",
                             "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        t0 = time.time()
        while time.time() - t0 < 30:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "chromium did not start its DevTools endpoint"
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t.get("type") == "page")

        async def session() -> dict:
            conn = await tornado_ws.websocket_connect(page["webSocketDebuggerUrl"], max_message_size=1 << 28)
            msg_id = 0
            events: list[dict] = []

            async def call(method: str, **params: object) -> dict:
                nonlocal msg_id
                msg_id += 1
                conn.write_message(json.dumps({"id": msg_id, "method": method, "params": params}))
                while True:
                    raw = await asyncio.wait_for(conn.read_message(), 30)
                    msg = json.loads(raw)
                    if msg.get("id") == msg_id:
                        return msg.get("result", {})
                    events.append(msg)

            for dom in ("Runtime", "Log", "Page"):
                await call(f"{dom}.enable")
            await call("Page.navigate", url=html.resolve().as_uri())
            t_end = time.time() + 30
            while not any(e.get("method") == "Page.loadEventFired" for e in events) and time.time() < t_end:
                events.append(json.loads(await asyncio.wait_for(conn.read_message(), 30)))
            broken = await call("Runtime.evaluate", returnByValue=True, expression=(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"))
            n_img = await call("Runtime.evaluate", returnByValue=True, expression="document.images.length")
            title = await call("Runtime.evaluate", returnByValue=True, expression="document.title")
            shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            conn.close()
            errors = [e for e in events if e.get("method") == "Runtime.exceptionThrown"
                      or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"))
                      or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")]
            return {"errors": errors, "broken_images": broken["result"]["value"],
                    "n_images": n_img["result"]["value"], "title": title["result"]["value"],
                    "screenshot": base64.b64decode(shot["data"])}

        return asyncio.run(session())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    from test_report import case_results, synthetic_case

    from spinemets.report import render_case_html

    case = synthetic_case()
    html = tmp_path / "report.html"
    html.write_text(render_case_html(case_results(case), case["ct"], case["vertebrae_lm"], case["muscles_lm"],
                                     case["vertebrae"], {"backend": "classic"}))
    out = render_in_chromium(html, tmp_path)
    assert out["errors"] == [], out["errors"]
    assert out["n_images"] >= 10 and out["broken_images"] == 0
    assert out["title"].startswith("spinemets report")
    png = out["screenshot"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    (tmp_path / "screenshot.png").write_bytes(png)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_checker_detects_a_broken_page(tmp_path):
    """The check itself can fail: a page with a script error and a broken image is caught."""
    html = tmp_path / "bad.html"
    html.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body>"
                    "<img src='data:image/png;base64,AAAA'><script>undefinedFunction();</script></body></html>")
    out = render_in_chromium(html, tmp_path)
    assert out["errors"], "a thrown exception must be reported"
    assert out["broken_images"] == 1
