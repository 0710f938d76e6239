#!/usr/bin/env python3
"""Paired boot timing: exec of PID 1 -> the first line of its one service.

Boots two tools alternately (A, B, B, A, ...) through their adapters, the way
../shared/bench/bench.py boot does (stamp-exec before the exec of PID 1,
svc-idle --tag BOOTLINE as the service, its own clock in the line), without
the harness's polling beside each boot, and prints each tool's median and the
median of the paired differences: on a noisy machine the pairs say more than
two medians do.

usage: bench/bootpair.py [--warm] [--n N] TOOL TOOL
  TOOL     an adapter name (hermes, hermes-svcadd: bench/adapters/; s6, tini,
           ...: ../shared/bench/adapters/), or hermes:BINARY for hermes.sh with
           HERMES_BIN=BINARY
  --warm   boot each hermes on a copy of a home that an earlier boot seeded
           (docker restart's case) instead of a fresh one (the first boot's)
  --n N    pairs (default 40)

Run as root (unshare), after make build. It uses the harness's own code
(../shared/bench/bench.py: its boxes, adapters and helper binaries).
"""
import argparse
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
# The harness finds this project's adapters first, then its own.
os.environ["BENCH_ADAPTER_PATH"] = os.pathsep.join(
    p for p in (os.path.join(HERE, "adapters"), os.environ.get("BENCH_ADAPTER_PATH")) if p)
sys.path.insert(0, BENCH)
import bench  # noqa: E402  (the harness: its Box lays out and removes a scratch dir)

LINE = re.compile(rb"BOOTLINE (\d+\.\d+)")


def boot(tool, home=None, keep=False):
    """One boot of tool in a box of its own; the milliseconds from the exec
    of PID 1 to its service's line, and the box (kept when keep)."""
    name, _, binary = tool.partition(":")
    box = bench.Box(name, 1, f"{bench.BIN}/svc-idle --tag BOOTLINE", "bootpair",
                    wrap_stamp=True, keep=keep)
    if binary:
        box.env["HERMES_BIN"] = binary
    try:
        box.layout()
        if home and name.startswith("hermes"):
            subprocess.run(["rm", "-rf", box.path("home")], check=True)
            # cp -a keeps the owners: the restart's home is the hermes uid's.
            subprocess.run(["cp", "-a", home, box.path("home")], check=True)
        # Started here rather than with Box.start, which polls /proc for PID
        # 1 while the tool boots.
        box.proc = subprocess.Popen([bench.adapter_path(name), "run", box.dir], env=box.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        buf, t, end = b"", None, time.monotonic() + 10
        while t is None and time.monotonic() < end:
            r, _, _ = select.select([box.proc.stdout], [], [], 0.5)
            if r:
                chunk = os.read(box.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                m = LINE.search(buf)
                if m:
                    t = float(m.group(1))
        os.killpg(box.proc.pid, signal.SIGTERM)
        box.proc.wait(timeout=15)
        if t is None:
            sys.exit(f"bootpair: {tool} printed no BOOTLINE within 10 s")
        with open(box.stamp) as f:
            return (t - float(f.read().split()[0])) * 1000, box
    finally:
        box.stop()


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1].split("\n")[0])
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("tools", nargs=2)
    a = ap.parse_args()
    home, seeded = None, None
    if a.warm:
        _, seeded = boot(next((t for t in a.tools if t.startswith("hermes")), a.tools[0]), keep=True)
        home = seeded.path("home")
    try:
        got = {t: [] for t in a.tools}
        for i in range(a.n):
            for t in (a.tools if i % 2 == 0 else a.tools[::-1]):
                got[t].append(boot(t, home)[0])
        for t, v in got.items():
            print(f"{t:40s} n={len(v)} median {statistics.median(v):6.2f} ms  "
                  f"p25 {statistics.quantiles(v, n=4)[0]:6.2f}  min {min(v):6.2f}")
        x, y = a.tools
        diff = statistics.median(p - q for p, q in zip(got[x], got[y]))
        ratio = statistics.median(p / q for p, q in zip(got[x], got[y]))
        print(f"paired: {x} - {y} median {diff:+.2f} ms, {x} / {y} median {ratio:.2f}")
    finally:
        if seeded:
            subprocess.run(["rm", "-rf", seeded.dir], check=False)

if __name__ == "__main__":
    main()
