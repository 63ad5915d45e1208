#!/usr/bin/python3
"""ws_peer.py: the Python `websockets` side of tests/integ/ws_interop.sh.

  ws_peer.py client URL   talk to a tern WebSocket echo server: text and
                          binary messages of several sizes up to 1 MiB, a
                          fragmented message, a ping, close 1000; checks
                          every echo byte for byte. Exit 0 on success.
  ws_peer.py server       a `websockets` echo server on 127.0.0.1 (free
                          port); prints "ws_peer: listening on URL", pings
                          the first client, echoes its messages, and when it
                          has gone prints "ws_peer: closed code=C messages=N
                          bytes=B pong=1" and exits.

Run with /usr/bin/python3 (Debian's python3-websockets). Every wait is
bounded; compression is off (tern negotiates no extension).
"""
import asyncio
import os
import sys

import websockets

TIMEOUT = 30
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]


def fail(msg):
    print("ws_peer: FAIL: " + msg, flush=True)
    sys.exit(1)


def text_of(n, seed):
    # printable ASCII plus some multi-byte characters, exactly n bytes
    out, i = [], 0
    while len(out) < n:
        out.append(chr(0x20 + (i * 7 + seed) % 95))
        i += 1
    s = "".join(out)
    if n >= 8:
        s = "\u00b5\u03ba\u20ac" + s[7:]  # 2 + 2 + 3 bytes of UTF-8
    assert len(s.encode()) == n
    return s


async def client(url):
    sent = received = 0
    async with websockets.connect(url, max_size=None, compression=None,
                                  ping_interval=None, open_timeout=TIMEOUT,
                                  close_timeout=TIMEOUT) as ws:
        for i, n in enumerate(SIZES):
            for binary in (False, True):
                msg = os.urandom(n) if binary else text_of(n, i)
                await ws.send(msg)
                echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
                if type(echo) is not type(msg) or echo != msg:
                    fail("echo of %s message of %d bytes differs (%s, %d)" %
                         ("binary" if binary else "text", n,
                          type(echo).__name__, len(echo)))
                sent += 1
                received += 1
        # a fragmented message (websockets sends an iterable as fragments)
        parts = [b"frag-", os.urandom(70000), b"", b"-end"]
        await ws.send(parts)
        echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if echo != b"".join(parts):
            fail("fragmented message: echo differs")
        parts = ["\u03ba\u1f79", "\u03c3\u03bc\u03b5"]
        await ws.send(parts)
        echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
        if echo != "".join(parts):
            fail("fragmented text: echo differs")
        sent += 2
        received += 2
        # ping: the pong must carry the same payload (websockets matches it)
        pong = await ws.ping(b"ws_peer-ping")
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.close(code=1000, reason="bye")
        if ws.close_code != 1000:
            fail("server answered the close with %r" % ws.close_code)
    print("ws_peer: client ok messages=%d echoes=%d pong=1 close=%d" %
          (sent, received, ws.close_code), flush=True)


async def server():
    done = asyncio.get_running_loop().create_future()

    async def handler(ws, path=None):
        pong_ok = 0
        try:
            pong = await ws.ping(b"ws_peer-server-ping")
            await asyncio.wait_for(pong, TIMEOUT)
            pong_ok = 1
        except Exception as e:  # reported below, the echo goes on
            print("ws_peer: no pong: %r" % e, flush=True)
        n = nbytes = 0
        try:
            async for msg in ws:
                n += 1
                nbytes += len(msg.encode() if isinstance(msg, str) else msg)
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        print("ws_peer: closed code=%s messages=%d bytes=%d pong=%d" %
              (ws.close_code, n, nbytes, pong_ok), flush=True)
        if not done.done():
            done.set_result(None)

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None,
                                compression=None, ping_interval=None,
                                close_timeout=TIMEOUT) as srv:
        port = srv.sockets[0].getsockname()[1]
        print("ws_peer: listening on ws://127.0.0.1:%d/" % port, flush=True)
        await asyncio.wait_for(done, 4 * TIMEOUT)


def main():
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "client":
            asyncio.run(asyncio.wait_for(client(sys.argv[2]), 4 * TIMEOUT))
        elif len(sys.argv) == 2 and sys.argv[1] == "server":
            asyncio.run(server())
        else:
            print(__doc__)
            sys.exit(2)
    except (websockets.WebSocketException, OSError, asyncio.TimeoutError) as e:
        fail("%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
