#!/usr/bin/env python3
"""Writes Tests/FlowStatsTests/Fixtures/{stats_sets.npz, expected.json}: reference values computed once with numpy/scipy.

FD uses scipy.linalg.sqrtm (the pytorch-fid / clean-fid formula), PRDC follows the `prdc` package code
(Euclidean distances, k-th neighbour radius = (k+1)-th smallest including self, strict <), KID follows
clean-fid's unbiased cubic-kernel estimator with subsets drawn by the same SplitMix64 stream as
FlowStats.StatsRandom (reproduced below), SWD uses scipy.stats.wasserstein_distance per direction.
Run: python3 Scripts/make_stats_fixtures.py   (needs numpy, scipy)
"""
import json, math, os
import numpy as np
from scipy import linalg, stats

MASK = (1 << 64) - 1

def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)

class SplitMix:
    def __init__(self, seed): self.state = seed & MASK
    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        return mix(self.state)
    def uniform(self): return (self.next() >> 11) * (1.0 / 9007199254740992.0)
    def below(self, n): return min(n - 1, int(self.uniform() * n))
    def normal(self):
        u1 = self.uniform(); u2 = self.uniform()
        return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)
    def subset(self, m, n):
        perm = list(range(n))
        for i in range(min(m, n)):
            j = i + self.below(n - i)
            perm[i], perm[j] = perm[j], perm[i]
        return perm[:m]

def fd(x, y):
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)), mu1, s1, mu2, s2

def dist(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

def radii(x, k):
    d = dist(x, x)
    return np.partition(d, k, axis=-1)[:, k]  # (k+1)-th smallest including self

def prdc(real, fake, kpr=3, kdc=5):
    drf = dist(real, fake)
    rpr, rdc, fpr = radii(real, kpr), radii(real, kdc), radii(fake, kpr)
    precision = (drf < rpr[:, None]).any(axis=0).mean()
    recall = (drf < fpr[None, :]).any(axis=1).mean()
    density = (1.0 / kdc) * (drf < rdc[:, None]).sum(axis=0).mean()
    coverage = (drf.min(axis=1) < rdc).mean()
    return dict(precision=float(precision), recall=float(recall), density=float(density), coverage=float(coverage))

def kid(real, fake, subset_size, subsets, seed):
    n, nf, d = real.shape[0], fake.shape[0], real.shape[1]
    m = min(subset_size, n, nf)
    rng = SplitMix(seed)
    vals = []
    for _ in range(subsets):
        fi = rng.subset(m, nf); ri = rng.subset(m, n)
        x, y = fake[fi], real[ri]
        a = (x @ x.T / d + 1) ** 3; b = (y @ y.T / d + 1) ** 3; c = (x @ y.T / d + 1) ** 3
        vals.append((a.sum() - np.trace(a) + b.sum() - np.trace(b)) / (m * (m - 1)) - 2 * c.sum() / (m * m))
    vals = np.array(vals)
    return float(vals.mean()), float(vals.std())

def swd(a, b, directions, seed):
    rng = SplitMix(seed)
    d = a.shape[1]
    tot = 0.0
    for _ in range(directions):
        th = np.array([rng.normal() for _ in range(d)])
        th /= np.linalg.norm(th)
        tot += stats.wasserstein_distance(a @ th, b @ th)
    return tot / directions

def main():
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "FlowStatsTests", "Fixtures")
    os.makedirs(out, exist_ok=True)
    rs = np.random.RandomState(1234)
    d = 8
    # Non-commuting covariances: random rotations of different spectra; nonzero means.
    A = rs.randn(d, d); B = rs.randn(d, d)
    x = (rs.randn(300, d) @ A + 2.0).astype(np.float32)          # "generated"
    y = (rs.randn(220, d) @ (0.7 * B) - 1.0).astype(np.float32)   # "reference"
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    fdv, mu1, s1, mu2, s2 = fd(x64, y64)
    # Same-distribution pair for near-zero FD and high precision/recall.
    z = (rs.randn(250, d) @ A + 2.0).astype(np.float32)
    fdz = fd(x64, z.astype(np.float64))[0]
    np.savez(os.path.join(out, "stats_sets.npz"), x=x, y=y, z=z)
    exp = {
        "fd_xy": fdv, "fd_xz": fdz,
        "mu_x": mu1.tolist(), "sigma_x": s1.ravel().tolist(),
        "prdc_xy": prdc(y64, x64), "prdc_xz": prdc(z.astype(np.float64), x64),
        "kid_xy": kid(y64, x64, 100, 20, 7), "kid_xz": kid(z.astype(np.float64), x64, 1000, 5, 0),
        "swd_xy": swd(x64, y64, 16, 3),
        "w1_scipy": stats.wasserstein_distance(x64[:37, 0], y64[:51, 1]),
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    print("wrote", out, {k: v for k, v in exp.items() if not isinstance(v, list)})

if __name__ == "__main__":
    main()
