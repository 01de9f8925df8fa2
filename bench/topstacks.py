"""Summarize a py-spy raw (collapsed) profile: top frames by self and inclusive samples.

python bench/topstacks.py bench/profiles/NAME.txt [how-many] [--busy]

--busy leaves out the samples of threads that were only waiting (py-spy samples every
thread: a thread pool's idle workers, a lock or a condition waited on), so the shares are
of the time the process was working, e.g. the upload path's executor threads in
bench/stations.py's profiles.
"""

import collections
import sys

IDLE = (
    "_worker (concurrent/futures/thread.py:81)",  # a pool thread waiting for work
    "Condition.wait (threading.py:327)",
    "Condition.wait (threading.py:331)",
    "Thread._wait_for_tstate_lock (threading.py:1139)",
    "Runner.run (asyncio/runners.py:118)",
)

args = [a for a in sys.argv[1:] if a != "--busy"]
busy = "--busy" in sys.argv[1:]
self_t = collections.Counter()
incl = collections.Counter()
total = 0
for line in open(args[0]):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n)
    frames = stack.split(";")
    if busy and frames[-1] in IDLE:
        continue
    total += n
    self_t[frames[-1]] += n
    for f in set(frames):
        incl[f] += n
print("total samples", total, "(busy only)" if busy else "")
print("-- self")
for f, n in self_t.most_common(int(args[1]) if len(args) > 1 else 25):
    print(f"{n / total * 100:5.1f}% {f}")
print("-- inclusive")
for f, n in incl.most_common(int(args[1]) if len(args) > 1 else 25):
    print(f"{n / total * 100:5.1f}% {f}")
