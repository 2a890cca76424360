#!/usr/bin/env python3
"""Seed a fuzz corpus: scripts/fuzz_seeds.py TARGET CORPUS DIR...

replay: every capture file under the DIRs, as it is.
packets: every frame of the classic pcap files, as the `packets` target
reads its input ([link selector][length][bytes]), one conversation per seed.
"""
import os
import shutil
import struct
import sys

target, corpus, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
# The packets target's selectors, by LINKTYPE number.
SELECTOR = {1: 0, 0: 1, 108: 2, 113: 3, 276: 4, 101: 5, 228: 6, 229: 7}


def files():
    for d in dirs:
        for root, _, names in os.walk(d):
            for name in sorted(names):
                yield os.path.join(root, name)


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return None, []
    link = struct.unpack(end + "I", data[20:24])[0] & 0xFFFF
    out, pos = [], 24
    while pos + 16 <= len(data):
        incl = struct.unpack(end + "I", data[pos + 8:pos + 12])[0]
        out.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return link, out


count = 0
for path in files():
    name = path.replace("/", "_").lstrip("._")
    if target == "replay":
        shutil.copyfile(path, os.path.join(corpus, name))
        count += 1
    else:
        link, fs = frames(path)
        if link not in SELECTOR or not fs:
            continue
        seed = b"".join(bytes([SELECTOR[link], min(len(f), 255)]) + f[:255] for f in fs[:64])
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(seed)
        count += 1
print(f"fuzz_seeds: {count} seeds for {target} in {corpus}")
