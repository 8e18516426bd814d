#!/usr/bin/env python3
"""What runs under a frame: of the samples whose call chain passes through a function whose
name contains SUBSTR, the share of each function it called (or "(self)").

    perf script -i build/profile/jobs.deep.data | python3 bench/profile_under.py service::insert

Percentages are of all samples in the input (bench/profile.sh DEEP=1 writes such a file).
"""
import collections
import re
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target = sys.argv[1]
    total = hit = 0
    callees = collections.Counter()
    stack = []

    def flush():
        nonlocal total, hit
        if not stack:
            return
        total += 1
        for i, frame in enumerate(stack):  # leaf first
            if target in frame:
                hit += 1
                callees[stack[i - 1] if i > 0 else "(self)"] += 1
                break

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            stack = []
            continue
        if line[0] in " \t":
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                # "name+0x1f (/path/lib.so)" or "name (/path/lib.so)": the name alone (a name
                # may hold " (...)" itself, e.g. std::function<void ()>).
                sym = re.sub(r"(\+0x[0-9a-f]+)? \([^()]*\)$", "", parts[1])
                stack.append(sym[:150])
    flush()
    print(f"samples {total}, under '{target}': {hit} ({100 * hit / max(total, 1):.1f}%)")
    for name, n in callees.most_common(15):
        print(f"{100 * n / max(total, 1):6.2f}%  {name}")


if __name__ == "__main__":
    main()
