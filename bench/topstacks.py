"""Summarize a py-spy raw (collapsed) profile: top frames by self and inclusive samples.

python bench/topstacks.py bench/profiles/NAME.txt [how-many]
"""

import collections
import sys

self_t = collections.Counter()
incl = collections.Counter()
total = 0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n)
    total += n
    frames = stack.split(";")
    self_t[frames[-1]] += n
    for f in set(frames):
        incl[f] += n
print("total samples", total)
print("-- self")
for f, n in self_t.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 25):
    print(f"{n / total * 100:5.1f}% {f}")
print("-- inclusive")
for f, n in incl.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 25):
    print(f"{n / total * 100:5.1f}% {f}")
