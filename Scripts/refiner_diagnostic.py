#!/usr/bin/env python3
"""How well does a FlowTurbo refiner predict the predictor's next velocity, per time and step size?

For MNIST test images x1, noise x0, t and Δt: x_t = t x1 + (1 − t) x0, v = v_θ(x_t, t, y), x' = x_t + Δt v,
target = v_θ(x', min(t + Δt, 1), y). Prints the RMS per pixel of the stale velocity (v − target, what a zero refiner
returns) and of the refined one (r(x', v, t', y) + v − target), using only `flowturbo forward` (no Python model code).

Usage: Scripts/refiner_diagnostic.py [--flowturbo .build/release/flowturbo] [--data data/mnist]
           [--predictor Models/sit-mnist.safetensors] [--refiner Models/refiner-mnist.safetensors] [--n 400]
Needs numpy. Set OPENBLAS_CORETYPE in the environment as for any flowturbo run.
"""
import argparse, gzip, os, subprocess, tempfile
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--flowturbo", default=".build/release/flowturbo")
ap.add_argument("--data", default="data/mnist")
ap.add_argument("--predictor", default="Models/sit-mnist.safetensors")
ap.add_argument("--refiner", default="Models/refiner-mnist.safetensors")
ap.add_argument("--n", type=int, default=400)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

def load(name):
    for cand in (name + ".gz", name):
        if os.path.exists(os.path.join(a.data, cand)):
            p = os.path.join(a.data, cand)
            return gzip.open(p).read() if cand.endswith(".gz") else open(p, "rb").read()
    raise SystemExit(f"{name}(.gz) not found in {a.data}; run Scripts/fetch-mnist.sh")

raw = load("t10k-images-idx3-ubyte"); n = int.from_bytes(raw[4:8], "big")
X = np.frombuffer(raw[16:], np.uint8).reshape(n, 1, 28, 28).astype(np.float32) / 127.5 - 1
Y = np.frombuffer(load("t10k-labels-idx1-ubyte")[8:], np.uint8).astype(np.int64)
tmp = tempfile.mkdtemp()
rng = np.random.default_rng(a.seed)

def fwd(model, x, t, y, v=None):
    f = lambda k: os.path.join(tmp, k + ".npy")
    np.save(f("x"), x); np.save(f("t"), t.astype(np.float32)); np.save(f("y"), y)
    args = [a.flowturbo, "forward", "--model", model, "--x", f("x"), "--t", f("t"), "--y", f("y"), "--out", f("o")]
    if v is not None:
        np.save(f("v"), v); args += ["--v", f("v")]
    subprocess.run(args, check=True, capture_output=True)
    return np.load(f("o"))

rms = lambda d: float(np.sqrt((d.astype(np.float64) ** 2).mean()))
print(f"{'t':>6} {'Δt':>6} {'stale RMS':>10} {'refined RMS':>12} {'ratio':>6}   (N = {a.n} per row)")
for t0 in (0.1, 0.3, 0.5, 0.625, 0.75, 0.875):
    i = rng.choice(len(X), a.n, replace=False)
    x1, y = X[i], Y[i]
    x0 = rng.standard_normal(x1.shape).astype(np.float32)
    t = np.full(a.n, t0, np.float32)
    xt = t0 * x1 + (1 - t0) * x0
    v = fwd(a.predictor, xt, t, y)
    for dt in (0.0, 0.06, 0.125):
        xp = xt + dt * v
        tp = np.minimum(t + dt, 1).astype(np.float32)
        target = v if dt == 0 else fwd(a.predictor, xp, tp, y)
        ref = fwd(a.refiner, xp, tp, y, v)
        s, r = rms(v - target), rms(ref - target)
        print(f"{t0:6.3f} {dt:6.3f} {s:10.4f} {r:12.4f} {r / s if s > 0 else float('nan'):6.3f}")
