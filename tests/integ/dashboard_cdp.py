#!/usr/bin/python3
"""Open ternd's dashboard in headless Chromium and check that live values
arrive over the WebSocket and change; save a screenshot.

usage: dashboard_cdp.py DEVTOOLS_PORT DASHBOARD_URL SCREENSHOT_PNG

Drives Chromium through the DevTools protocol with Debian's
python3-websockets (no other dependency). Exit 0 on success.
"""
import asyncio
import base64
import json
import sys
import time
import urllib.request

import websockets


async def cdp(ws, state, method, **params):
    state["id"] += 1
    msg_id = state["id"]
    await ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if reply.get("id") == msg_id:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})


async def read_values(ws, state):
    expr = ("JSON.stringify({ms: Number(document.getElementById('uptime').dataset.ms||0),"
            "updates: Number(document.getElementById('updates').textContent),"
            "state: document.getElementById('state').textContent,"
            "requests: document.getElementById('requests').textContent,"
            "sysstate: document.getElementById('sysstate').textContent,"
            "endpoints: document.getElementById('endpoints').rows.length})")
    r = await cdp(ws, state, "Runtime.evaluate", expression=expr, returnByValue=True)
    return json.loads(r["result"]["value"])


async def main(port, url, png):
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
    page = next(t for t in targets if t.get("type") == "page")
    state = {"id": 0}
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
        await cdp(ws, state, "Page.enable")
        await cdp(ws, state, "Page.navigate", url=url)
        deadline = time.time() + 15
        first = None
        while time.time() < deadline:
            await asyncio.sleep(0.5)
            v = await read_values(ws, state)
            if v["state"] == "connected" and v["updates"] >= 1:
                first = v
                break
        if first is None:
            print(f"FAIL: no live update within 15 s: {v}")
            return 1
        await asyncio.sleep(2.5)
        second = await read_values(ws, state)
        shot = await cdp(ws, state, "Page.captureScreenshot", format="png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"first: {first}\nsecond: {second}\nscreenshot: {png}")
        if second["updates"] <= first["updates"] or second["ms"] <= first["ms"]:
            print("FAIL: live values did not change")
            return 1
        if second["endpoints"] < 5:
            print("FAIL: endpoint table not filled")
            return 1
        if second["sysstate"] != "OPERATIONAL":
            print("FAIL: system state not shown")
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3])))
