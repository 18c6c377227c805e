#!/usr/bin/env bash
# Rebuilds Models/mnist-test-classifier.npz: statistics of the 10,000 MNIST test images in the shipped digit
# classifier's 256-d feature space, the reference every MNIST-shaped class run reports FD and PRDC/KID/SWD against.
# Keeps mu/sigma of all 10,000 images, count, feature_dim and a seeded reservoir of 2,000 feature rows with labels
# (PRDC/KID/SWD need rows); the per-class and mergeable sums are dropped to keep the file small (2.6 MB).
# Usage: Scripts/make-mnist-reference.sh [flowturbo binary]   (needs data/mnist from Scripts/fetch-mnist.sh, numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
F="${1:-.build/release/flowturbo}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$F" stats reference --idx data/mnist/t10k-images-idx3-ubyte.gz --labels data/mnist/t10k-labels-idx1-ubyte.gz \
  --features classifier --reservoir 2000 --seed 0 --out "$tmp/full.npz"
python3 - "$tmp/full.npz" Models/mnist-test-classifier.npz <<'PY'
import sys
import numpy as np
z = np.load(sys.argv[1])
np.savez(sys.argv[2], **{k: z[k] for k in ("mu", "sigma", "count", "feature_dim", "samples", "labels")})
PY
echo "wrote Models/mnist-test-classifier.npz"
