#!/usr/bin/env python3
"""Independent (numpy) quad-canvas reference fixture for the prompt-adherence calibration test.

Writes Tests/Fixtures/quad-adherence/prompts.txt (one prompt per line, 40 per category), specs.txt (what each
prompt asks: `slots A B C D` with `.` for empty, or `count D N`) and canvases.npy
(uint8 (N, 1, 32, 32), intensity 0-255; the canvas in [-1, 1] is q / 127.5 - 1): every named digit is a random
MNIST *test* image of that digit, resized 28->16 by exact area averaging and placed in its 16x16 slot.

    python3 Scripts/make_quad_adherence_fixture.py data/mnist Tests/Fixtures/quad-adherence
"""
import gzip
import os
import sys

import numpy as np

POS = ["top left", "top right", "bottom left", "bottom right"]


def idx(path):
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def area_matrix(n, m):
    s = n / m
    w = np.zeros((m, n))
    for j in range(m):
        lo, hi = j * s, (j + 1) * s
        for i in range(n):
            w[j, i] = max(0.0, min(hi, i + 1) - max(lo, i)) / s
    return w


def main(data, out):
    imgs = idx(os.path.join(data, "t10k-images-idx3-ubyte.gz")).astype(np.float64) / 255
    labs = idx(os.path.join(data, "t10k-labels-idx1-ubyte.gz"))
    by = [np.flatnonzero(labs == d) for d in range(10)]
    w = area_matrix(28, 16)
    rng = np.random.default_rng(11)
    prompts, canvases, specs = [], [], []

    def canvas(slots):
        c = np.zeros((32, 32))
        for s, d in enumerate(slots):
            if d is None:
                continue
            r0, c0 = 16 * (s // 2), 16 * (s % 2)
            c[r0:r0 + 16, c0:c0 + 16] = w @ imgs[rng.choice(by[d])] @ w.T
        return np.clip(np.rint(c * 255), 0, 255).astype(np.uint8)

    def add(prompt, slots, category=None):
        prompts.append(prompt)
        canvases.append(canvas(slots))
        specs.append(category or "slots " + " ".join("." if d is None else str(d) for d in slots))

    words = ["one", "two", "three", "four"]
    for k in range(40):
        d, s = int(rng.integers(10)), int(rng.integers(4))
        add(f"a {d} in the {POS[s]}", [d if i == s else None for i in range(4)])
    for k in range(40):
        s1, s2 = rng.choice(4, 2, replace=False)
        d1, d2 = (int(x) for x in rng.integers(10, size=2))
        slots = [None] * 4
        slots[s1], slots[s2] = d1, d2
        add(f"a {d1} in the {POS[s1]} and a {d2} in the {POS[s2]}", slots)
    for k in range(40):
        side = int(rng.integers(2))
        d1, d2 = (int(x) for x in rng.integers(10, size=2))
        slots = [None] * 4
        slots[side], slots[side + 2] = d1, d2
        add(f"a {d1} above a {d2} on the {'right' if side else 'left'}", slots)
    for k in range(40):
        r = int(rng.integers(2))
        d1, d2 = (int(x) for x in rng.integers(10, size=2))
        slots = [None] * 4
        slots[2 * r], slots[2 * r + 1] = d1, d2
        add(f"a {d1} next to a {d2} on the {'bottom' if r else 'top'} row", slots)
    for k in range(40):
        d, n = int(rng.integers(10)), int(rng.integers(1, 5))
        chosen = set(int(x) for x in rng.choice(4, n, replace=False))
        add(f"{words[n - 1]} {d}" + ("" if n == 1 else "s"), [d if i in chosen else None for i in range(4)],
            f"count {d} {n}")
    for k in range(40):
        add("an empty canvas" if k % 2 == 0 else "nothing", [None] * 4)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "prompts.txt"), "w") as f:
        f.write("\n".join(prompts) + "\n")
    with open(os.path.join(out, "specs.txt"), "w") as f:
        f.write("\n".join(specs) + "\n")
    np.save(os.path.join(out, "canvases.npy"), np.stack(canvases)[:, None])
    print(f"wrote {len(prompts)} prompts and canvases to {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
