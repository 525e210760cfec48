#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes small PNG fixtures with a PNG encoder written here from the PNG specification
# (zlib + CRC chunks, filter 0), independent of libpng, for tests/io/image.test.cpp.
# Pixel (x, y) of a W x H image:
#   r = (37x + 11y) % 256,  g = (5xy + 90) % 256,  b = (255 - 23y - 7x) % 256,
#   alpha = (50x + 3) % 256,  gray = r,  gray4 = (x + 3y) % 16,
#   palette index = (x + 2y) % n with palette entry i = (3i, 255 - i, 7i % 256).
# 16-bit samples store v * 257, which libpng scales back to exactly v.
import struct, zlib

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

def png(path, w, h, depth, ctype, rows, extra=b""):
    raw = b"".join(b"\x00" + r for r in rows)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)

def rgb(x, y):
    return ((37 * x + 11 * y) % 256, (5 * x * y + 90) % 256, (255 - 23 * y - 7 * x) % 256)

def alpha(x):
    return (50 * x + 3) % 256

def pack(values, depth):
    out, acc, nbits = bytearray(), 0, 0
    for v in values:
        acc = (acc << depth) | v
        nbits += depth
        if nbits == 8:
            out.append(acc); acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)

W, H = 5, 3
png("gray8.png", W, H, 8, 0, [bytes(rgb(x, y)[0] for x in range(W)) for y in range(H)])
png("gray4.png", W, H, 4, 0, [pack([(x + 3 * y) % 16 for x in range(W)], 4) for y in range(H)])
png("gray16.png", W, H, 16, 0, [b"".join(struct.pack(">H", rgb(x, y)[0] * 257) for x in range(W)) for y in range(H)])
png("graya8.png", W, H, 8, 4, [bytes(v for x in range(W) for v in (rgb(x, y)[0], alpha(x))) for y in range(H)])
png("rgb8.png", W, H, 8, 2, [bytes(v for x in range(W) for v in rgb(x, y)) for y in range(H)])
png("rgba8.png", W, H, 8, 6, [bytes(v for x in range(W) for v in rgb(x, y) + (alpha(x),)) for y in range(H)])
png("rgb16.png", W, H, 16, 2,
    [b"".join(struct.pack(">H", v * 257) for x in range(W) for v in rgb(x, y)) for y in range(H)])

def plte(n):
    return chunk(b"PLTE", bytes(v for i in range(n) for v in (3 * i, 255 - i, (7 * i) % 256)))

png("palette8.png", W, H, 8, 3, [bytes((x + 2 * y) % 23 for x in range(W)) for y in range(H)],
    plte(23) + chunk(b"tRNS", bytes([0, 128])))
png("palette4.png", W, H, 4, 3, [pack([(x + 2 * y) % 11 for x in range(W)], 4) for y in range(H)], plte(11))
