#!/usr/bin/python3
"""Renders `sweep report --html` in headless Chromium (Debian's chromium) to a PNG and checks the page
is not blank: enough non-white pixels, the heatmap's dark blue and the verdict badge's green among
them. An all-white PNG must fail the same checks, so the checks can fail.
PNG decoding uses the standard library only (zlib, struct).

usage: render_html.py SWEEP MAKE_REPORT_FILES SWEEPS_DIR WORKDIR
"""
import os
import shutil
import struct
import subprocess
import sys
import zlib

sweep, make_files, sweeps_dir, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def decode_png(path):
    """(width, height, channels, rows of bytes) of an 8-bit, non-interlaced greyscale/RGB/RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, at = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, channels, rows


def census(path):
    """Fractions of non-white pixels, and counts of heatmap-blue and badge-green pixels."""
    width, height, ch, rows = decode_png(path)
    nonwhite = blue = green = 0
    for line in rows:
        for x in range(0, width * ch, ch):
            r, g, b = (line[x], line[x], line[x]) if ch < 3 else (line[x], line[x + 1], line[x + 2])
            if r < 245 or g < 245 or b < 245:
                nonwhite += 1
            if r < 40 and g < 80 and 80 < b < 140:          # the heatmap's darkest cells, #08306b
                blue += 1
            if 15 < r < 45 and 110 < g < 145 and 45 < b < 75:   # the STRICT badge, #1b7f3b
                green += 1
    return nonwhite / (width * height), blue, green


def not_blank(path):
    frac, blue, green = census(path)
    return frac > 0.02 and blue > 500 and green > 50, f"{frac:.1%} non-white, {blue} heatmap blue, {green} badge green"


browser = shutil.which("chromium") or shutil.which("chromium-browser")
if not browser:
    print("chromium is not installed (apt-get install chromium): the HTML page cannot be rendered", file=sys.stderr)
    sys.exit(1)


def screenshot(url, png, profile):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1200,1100", f"--screenshot={png}", url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not os.path.exists(png):
        print(f"chromium failed ({r.returncode}): {r.stderr[-2000:]}", file=sys.stderr)
        sys.exit(1)


subprocess.run([make_files, work, sweeps_dir], check=True)
html = os.path.join(work, "html")
subprocess.run([sweep, "report", os.path.join(work, "bet61.h5"), "--html", html], check=True,
               stdout=subprocess.DEVNULL)

# the checks must fail on a blank page: an all-white PNG, encoded here, stands in for one
blank = os.path.join(work, "blank.png")
w, h = 1200, 1100
rows = b"".join(b"\x00" + b"\xff" * (3 * w) for _ in range(h))
chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
with open(blank, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
ok, what = not_blank(blank)
print("blank page:", what)
failed = False
if ok:
    print("FAIL: the checks pass a blank page", file=sys.stderr)
    failed = True

screenshot("file://" + os.path.join(html, "index.html"), os.path.join(work, "report.png"), os.path.join(work, "profile"))
ok, what = not_blank(os.path.join(work, "report.png"))
print("report page:", what)
if not ok:
    print("FAIL: the report page rendered (nearly) blank", file=sys.stderr)
    failed = True
print("render_html:", "failed" if failed else "ok")
sys.exit(1 if failed else 0)
