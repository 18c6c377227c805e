#!/usr/bin/env bash
# Heun vs FlowTurbo on the text-to-image quad-canvas model: for a prompt file × K images, runs every plan with
# `flowturbo run --prompts … --export-npz` (same seed, so sample i has the same noise and prompt in every run) and
# prints a Markdown table per plan: NFE per image (predictor + refiner calls; a guided [cond; null] pair counts
# once), wall time of the run, model time per image, RMSE per pixel against an H50 solve of the same noise and
# prompts (mean over images of √(mean over pixels of (x − x_H50)²)), and prompt adherence (`prompt_adherence.overall`
# of `flowturbo stats adherence`: the slot classifier's fraction of images whose four slots match the prompt; the
# runs themselves use `--reference none`, which skips the report's 1,024-d prompt FD, minutes per run).
#
#   Scripts/quad-flowturbo-table.sh                     # defaults below; the lead's full-size run
#   PROMPTS=Examples/prompts-quad.txt K=2 Scripts/quad-flowturbo-table.sh
#
# Environment (defaults): F (.build/release/flowturbo), MODEL (Models/pixart-quad.safetensors),
# REFINER (Models/pixart-quad-refiner.safetensors), PROMPTS (Examples/prompts-quad-heldout.txt), K (4),
# CFG (3), SEED (0), WORKERS (2), BATCH (16), OUT (runs/quad-flowturbo-table), REFERENCE_PLAN (H50),
# HEUN_PLANS ("H4 H5 H6 H8 H10 H12"), TURBO_PLANS ("H1P5R3 H2P4R2 H2P8R2"), R_STEPS ("heun euler"),
# TEXT_ENCODER (run's default), TABLE (OUT/table.md). Runs already complete in OUT are reused (delete OUT to redo).
set -euo pipefail

F=${F:-.build/release/flowturbo}
MODEL=${MODEL:-Models/pixart-quad.safetensors}
REFINER=${REFINER:-Models/pixart-quad-refiner.safetensors}
PROMPTS=${PROMPTS:-Examples/prompts-quad-heldout.txt}
K=${K:-4}
CFG=${CFG:-3}
SEED=${SEED:-0}
WORKERS=${WORKERS:-2}
BATCH=${BATCH:-16}
OUT=${OUT:-runs/quad-flowturbo-table}
REFERENCE_PLAN=${REFERENCE_PLAN:-H50}
HEUN_PLANS=${HEUN_PLANS-"H4 H5 H6 H8 H10 H12"}
TURBO_PLANS=${TURBO_PLANS-"H1P5R3 H2P4R2 H2P8R2"}
R_STEPS=${R_STEPS:-"heun euler"}
TABLE=${TABLE:-$OUT/table.md}

for f in "$F" "$MODEL" "$PROMPTS"; do
    [[ -e $f ]] || { echo "quad-flowturbo-table: $f not found" >&2; exit 1; }
done
if [[ -n $TURBO_PLANS && ! -e $REFINER ]]; then
    echo "quad-flowturbo-table: refiner $REFINER not found (train it with flowturbo train-t2i-refiner," \
        "or set TURBO_PLANS=\"\")" >&2
    exit 1
fi
command -v python3 >/dev/null || { echo "quad-flowturbo-table: needs python3 with numpy" >&2; exit 1; }
mkdir -p "$OUT"
encoder=()
[[ -n ${TEXT_ENCODER:-} ]] && encoder=(--text-encoder "$TEXT_ENCODER")

# run NAME PLAN RSTEP REFINER: one prompt run into $OUT/NAME (skipped when its samples.npz and report exist).
run() {
    local name=$1 plan=$2 rstep=$3 refiner=$4 dir=$OUT/$1
    if [[ -s $dir/samples.npz && -s $dir/report.json && -s $dir/wall.txt && -s $dir/adherence.json ]]; then
        echo "reusing $dir" >&2
        return
    fi
    echo "running $name: --plan $plan --refiner-step $rstep --refiner $refiner" >&2
    local start end
    start=$(date +%s.%N)
    "$F" run --model "$MODEL" --refiner "$refiner" --plan "$plan" --refiner-step "$rstep" --cfg "$CFG" \
        --prompts "$PROMPTS" --images-per-prompt "$K" --seed "$SEED" --workers "$WORKERS" --batch "$BATCH" \
        "${encoder[@]}" --reference none --export-npz --overwrite --quiet --out "$dir" >"$OUT/$name.log" 2>&1 ||
        { echo "quad-flowturbo-table: $name failed; see $OUT/$name.log" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$start $end" | awk '{ printf "%.3f\n", $2 - $1 }' >"$dir/wall.txt"
    "$F" stats adherence --samples "$dir/samples.npz" --prompts "$PROMPTS" --images-per-prompt "$K" \
        >"$dir/adherence.json" 2>>"$OUT/$name.log" ||
        { echo "quad-flowturbo-table: stats adherence of $name failed; see $OUT/$name.log" >&2; exit 1; }
}

rows=()
run reference "$REFERENCE_PLAN" heun none
for p in $HEUN_PLANS; do
    run "$p" "$p" heun none
    rows+=("$p|$p|-")
done
for p in $TURBO_PLANS; do
    for s in $R_STEPS; do
        run "$p-$s" "$p" "$s" "$REFINER"
        rows+=("$p-$s|$p|$s")
    done
done

python3 - "$OUT" "$PROMPTS" "$K" "$CFG" "$REFERENCE_PLAN" "${rows[@]}" >"$TABLE" <<'PY'
import json, sys
import numpy as np

out, prompts, k, cfg, ref_plan, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]


def load(name):
    d = f"{out}/{name}"
    x = np.load(f"{d}/samples.npz")["arr_0"].astype(np.float64)
    rep = json.load(open(f"{d}/report.json"))
    wall = float(open(f"{d}/wall.txt").read())
    rep["prompt_adherence"] = json.load(open(f"{d}/adherence.json"))
    return x.reshape(x.shape[0], -1), rep, wall


def stage_ms(rep, stage):
    """Sum over batches of a latency stage in ms (mean × count), or None when absent."""
    s = rep.get("latency_ms_by_stage", {}).get(stage)
    if not isinstance(s, dict) or "mean" not in s or "count" not in s:
        return None
    return float(s["mean"]) * float(s["count"])


ref, ref_rep, _ = load("reference")
print(f"Quad-canvas text-to-image: {ref.shape[0]} images ({prompts}, K = {k}), guidance {cfg}; "
      f"RMSE per pixel against {ref_plan} (NFE {ref_rep.get('nfe_per_sample', 0):g}) of the same noise and prompts.")
print()
print("| plan | R step | NFE | wall s | model ms/img | RMSE vs " + ref_plan + " | prompt adherence |")
print("|---|---|---:|---:|---:|---:|---:|")
for row in rows:
    name, plan, rstep = row.split("|")
    x, rep, wall = load(name)
    if x.shape != ref.shape:
        sys.exit(f"{name}: samples {x.shape} differ from the reference {ref.shape}")
    rmse = float(np.mean(np.sqrt(np.mean((x - ref) ** 2, axis=1))))
    model = [v for v in (stage_ms(rep, "predictor"), stage_ms(rep, "refiner")) if v is not None]
    per_img = f"{sum(model) / x.shape[0]:.2f}" if model else "n/a"
    adh = rep.get("prompt_adherence", {}).get("overall")
    adh = f"{adh:.3f}" if isinstance(adh, (int, float)) else "n/a"
    print(f"| {plan} | {rstep} | {rep.get('nfe_per_sample', 0):g} | {wall:.1f} | {per_img} | {rmse:.4f} | {adh} |")
ref_adh = ref_rep.get("prompt_adherence", {}).get("overall")
if isinstance(ref_adh, (int, float)):
    print(f"\n{ref_plan} reference: prompt adherence {ref_adh:.3f}.")
PY
cat "$TABLE"
