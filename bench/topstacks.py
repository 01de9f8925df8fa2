"""Summarize a py-spy raw (collapsed) profile: top frames by self and inclusive samples.

python bench/topstacks.py bench/profiles/NAME.txt [how-many] [--busy] [--parts]

--busy leaves out the samples of threads that were only waiting (py-spy samples every
thread: a thread pool's idle workers, a lock or a condition waited on), so the shares are
of the time the process was working, e.g. the upload path's executor threads in
bench/stations.py's profiles.

--parts (with --busy implied) sorts the busy samples of a connect-phase profile into the
parts of a connection's life (issue 18's handshake), for the product and the plain
baseline alike: each sample goes to the first part whose frames its stack holds.
"""

import collections
import sys

IDLE = (
    "_worker (concurrent/futures/thread.py:81)",  # a pool thread waiting for work
    "Condition.wait (threading.py:327)",
    "Condition.wait (threading.py:331)",
    "Thread._wait_for_tstate_lock (threading.py:1139)",
    "Runner.run (asyncio/runners.py:118)",
    "Connection._recv (multiprocessing/connection.py:395)",  # uvicorn's worker pinging its supervisor
)

# (part, frames that put a sample in it), first match wins
PARTS = (
    (
        "fan-out of updates",
        (
            "Hub._push",
            "_end_turn",
            "broadcast (websockets/asyncio/connection.py",
            "ticker (plain_ws",
            "one_tick (plain_ws",
        ),
    ),
    ("database and other threads", ("Thread._bootstrap",)),
    ("poller", ("Poller.",)),
    ("keepalive pings", ("keepalive", "schedule_ping")),
    ("handshake: the 101 answer", ("WebSocketsSansIOProtocol.send (", "ServerProtocol.send_response")),
    ("accept, hello (the app)", ("WeatherConsumer.on_connect", "handler (plain_ws.py:116)")),
    ("incoming frames", ("handler (plain_ws.py:118)",)),  # plain's receive loop
    ("subscribe: parse, resolve, reply", ("WeatherConsumer.on_frame", "handler (plain_ws.py:1")),
    (
        "handshake: HTTP parse, upgrade, accept key",
        (
            "HttpToolsProtocol",
            "Request.parse",
            "handle_connect",
            "ServerConnection.handshake",
            "protocol_factory",
            "connection_made",
        ),
    ),
    ("ASGI app chain: router, origin check, consumer", ("run_asgi", "protocol_handler")),
    ("incoming frames", ("data_received",)),
)


def read(path, busy):
    for line in open(path):
        stack, _, n = line.rstrip().rpartition(" ")
        frames = stack.split(";")
        if busy and frames[-1] in IDLE:
            continue
        yield frames, int(n)


def parts(path):
    counts = collections.Counter()
    total = 0
    for frames, n in read(path, busy=True):
        total += n
        joined = ";".join(frames)
        counts[next((name for name, keys in PARTS if any(k in joined for k in keys)), "other")] += n
    print(f"busy samples {total}")
    for name, n in counts.most_common():
        print(f"{n:6d} {n / total * 100:5.1f}%  {name}")


def top(path, many, busy):
    self_t = collections.Counter()
    incl = collections.Counter()
    total = 0
    for frames, n in read(path, busy):
        total += n
        self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    print("total samples", total, "(busy only)" if busy else "")
    print("-- self")
    for f, n in self_t.most_common(many):
        print(f"{n / total * 100:5.1f}% {f}")
    print("-- inclusive")
    for f, n in incl.most_common(many):
        print(f"{n / total * 100:5.1f}% {f}")


args = [a for a in sys.argv[1:] if not a.startswith("--")]
if "--parts" in sys.argv[1:]:
    parts(args[0])
else:
    top(args[0], int(args[1]) if len(args) > 1 else 25, "--busy" in sys.argv[1:])
