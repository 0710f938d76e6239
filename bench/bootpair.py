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

Run as root (unshare), after make build and ../shared/bench/helpers/build.sh.
"""
import argparse
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
LINE = re.compile(rb"BOOTLINE (\d+\.\d+)")


def adapter(tool):
    name, _, binary = tool.partition(":")
    own = os.path.join(HERE, "adapters", name + ".sh")
    path = own if os.path.exists(own) else os.path.join(BENCH, "adapters", name + ".sh")
    if not os.path.exists(path):
        sys.exit(f"bootpair: no adapter {name} in bench/adapters or {BENCH}/adapters")
    return name, path, binary


def boot(tool, d, home=None):
    """One boot in the new directory d; the milliseconds from exec to the line."""
    name, path, binary = adapter(tool)
    env = dict(os.environ, BENCH_WRAP=f"{BENCH}/bin/stamp-exec {d}/pid1.stamp")
    if binary:
        env["HERMES_BIN"] = binary
    subprocess.run([path, "layout", d, "1", f"{BENCH}/bin/svc-idle --tag BOOTLINE"], env=env, check=True)
    if home and name.startswith("hermes"):
        shutil.rmtree(f"{d}/home")
        # cp -a keeps the owners: the restart's home is the hermes uid's.
        subprocess.run(["cp", "-a", home, f"{d}/home"], check=True)
    p = subprocess.Popen([path, "run", d], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    buf, t, end = b"", None, time.monotonic() + 10
    while t is None and time.monotonic() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            m = LINE.search(buf)
            if m:
                t = float(m.group(1))
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
    if t is None:
        sys.exit(f"bootpair: {tool} printed no BOOTLINE within 10 s")
    with open(f"{d}/pid1.stamp") as f:
        return (t - float(f.read().split()[0])) * 1000


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1].split("\n")[0])
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("tools", nargs=2)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bootpair-")
    os.chmod(root, 0o755)  # the hermes uid enters the homes below it
    try:
        home = None
        if a.warm:
            seeded = os.path.join(root, "seeded")
            os.mkdir(seeded)
            boot(next((t for t in a.tools if t.startswith("hermes")), a.tools[0]), seeded)
            home = os.path.join(seeded, "home")
        got = {t: [] for t in a.tools}
        for i in range(a.n):
            for t in (a.tools if i % 2 == 0 else a.tools[::-1]):
                d = tempfile.mkdtemp(dir=root)
                got[t].append(boot(t, d, home))
                shutil.rmtree(d)
        for t, v in got.items():
            print(f"{t:40s} n={len(v)} median {statistics.median(v):6.2f} ms  "
                  f"p25 {statistics.quantiles(v, n=4)[0]:6.2f}  min {min(v):6.2f}")
        x, y = a.tools
        diff = statistics.median(p - q for p, q in zip(got[x], got[y]))
        ratio = statistics.median(p / q for p, q in zip(got[x], got[y]))
        print(f"paired: {x} - {y} median {diff:+.2f} ms, {x} / {y} median {ratio:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
