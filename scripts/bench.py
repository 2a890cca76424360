#!/usr/bin/env python3
"""Time wirelab, tcpdump and tshark on one capture (see scripts/bench).
With BASELINE set to another wirelab binary, its runs join the same rounds.

Each command runs with stdout to /dev/null; wall time comes from a monotonic
clock, peak RSS from the kernel's rusage of that child (os.wait4). Rounds
alternate between the commands so that a slow moment of the machine is
shared; the median of the rounds is reported.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

path, packets, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wirelab = "target/release/wirelab"


def run(argv):
    start = time.monotonic()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(argv)} failed")
    return elapsed, usage.ru_maxrss  # KiB on Linux


commands = [
    ("wirelab replay --format text", [wirelab, "replay", "--format", "text", path], packets),
    ("wirelab replay --format json", [wirelab, "replay", "--format", "json", path], packets),
    ("wirelab replay --summary", [wirelab, "replay", "--summary", path], packets),
]
# BASELINE=path/to/an/older/wirelab: the same three runs with that binary, in
# the same rounds, to measure a change against the commit before it.
baseline = os.environ.get("BASELINE")
if baseline:
    for what in (["--format", "text"], ["--format", "json"], ["--summary"]):
        commands.append((f"baseline replay {' '.join(what)}", [baseline, "replay", *what, path], packets))
if shutil.which("tcpdump"):
    commands.append(("tcpdump -n -S -tt -r", ["tcpdump", "-n", "-S", "-tt", "-r", path], packets))
if shutil.which("tshark") and shutil.which("editcap"):
    # tshark is ~50x slower and holds every packet: a 10% slice.
    tenth = max(packets // 10, 1)
    slice_path = f"{path}.first{tenth}.pcap"
    if not os.path.exists(slice_path):
        subprocess.run(["editcap", "-r", path, slice_path, f"1-{tenth}"], check=True)
    commands.append((f"tshark -n -r (first {tenth} packets)", ["tshark", "-n", "-r", slice_path], tenth))

times = {name: [] for name, _, _ in commands}
rss = {name: 0 for name, _, _ in commands}
for _ in range(rounds):
    for name, argv, _ in commands:
        t, r = run(argv)
        times[name].append(t)
        rss[name] = max(rss[name], r)

results = []
for name, _, n in commands:
    t = statistics.median(times[name])
    results.append({"command": name, "packets": n, "seconds": round(t, 3),
                    "packets_per_second": round(n / t), "peak_rss_kib": rss[name]})
by_name = {r["command"]: r for r in results}
tcpdump = by_name.get("tcpdump -n -S -tt -r")
tshark = next((r for r in results if r["command"].startswith("tshark")), None)

print(f"{packets} packets, {os.path.getsize(path) / 2**20:.0f} MiB, median of {rounds} rounds, "
      f"{os.cpu_count()} cores")
print()
table = ["| command | time | packets/s | vs tcpdump | vs tshark | peak RSS |",
         "|---|---|---|---|---|---|"]
for r in results:
    vs_tcpdump = f"{r['packets_per_second'] / tcpdump['packets_per_second']:.2f}x" if tcpdump else "-"
    vs_tshark = f"{r['packets_per_second'] / tshark['packets_per_second']:.1f}x" if tshark else "-"
    table.append(f"| `{r['command']}` | {r['seconds']:.2f} s | {r['packets_per_second']:,} | {vs_tcpdump} | "
                 f"{vs_tshark} | {r['peak_rss_kib'] / 1024:.0f} MiB |")
print("\n".join(table))

# README=1: the README's table (between its bench markers) replaced by this one.
if os.environ.get("README") == "1":
    readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
    with open(readme) as f:
        text = f.read()
    start, end = "<!-- scripts/bench: start -->\n", "<!-- scripts/bench: end -->"
    if start not in text or end not in text:
        sys.exit("bench: README.md has no bench markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(readme, "w") as f:
        f.write(head + start + "\n".join(table) + "\n" + end + tail)
    print("README.md: table replaced")
out = os.path.join(os.path.dirname(path), "bench.json")
with open(out, "w") as f:
    json.dump({"file": path, "packets": packets, "rounds": rounds, "results": results}, f, indent=2)
print()
print(f"JSON: {out}")
