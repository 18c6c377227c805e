#!/usr/bin/env python3
"""Sets the sampling recommendation of a predictor file: the safetensors __metadata__ key
`flowturbo.recommended` (JSON: plan, refiner_step, guidance, refiner, plan_without_refiner) that
`flowturbo run/sample/coordinator/worker` use when their flags are not given. Tensor bytes are unchanged.

    Scripts/set-recommendation.py Models/sit-mnist.safetensors --plan H2P4R2 --refiner-step euler \
        --guidance 1.5 --refiner refiner-mnist.safetensors --plan-without-refiner H8
"""
import argparse, json, os, struct, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--plan", required=True)
ap.add_argument("--refiner-step", choices=["heun", "euler"], required=True)
ap.add_argument("--guidance", type=float, required=True)
ap.add_argument("--refiner", help="refiner file name, next to the model")
ap.add_argument("--plan-without-refiner", default="H8")
a = ap.parse_args()
if a.refiner and "/" in a.refiner:
    sys.exit("--refiner is a file name next to the model, not a path")
with open(a.model, "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
meta = header.setdefault("__metadata__", {})
rec = {"plan": a.plan, "refiner_step": a.refiner_step, "guidance": a.guidance,
       "plan_without_refiner": a.plan_without_refiner}
if a.refiner:
    rec["refiner"] = a.refiner
meta["flowturbo.recommended"] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(a.model)))
with os.fdopen(fd, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, a.model)
print(f"{a.model}: flowturbo.recommended = {meta['flowturbo.recommended']}")
