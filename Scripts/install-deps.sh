#!/usr/bin/env bash
# Installs the Debian packages flowturbo builds against, only when one is missing.
# Safe to run repeatedly; needs root (or sudo) the first time on a fresh machine.
set -euo pipefail
pkgs=(libopenblas-dev liblapacke-dev libzmq3-dev zlib1g-dev pkg-config protobuf-compiler protobuf-c-compiler libprotobuf-c-dev iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The MiniLM text encoder (git-ignored Models/minilm/) so the text-encoder tests run for real on a clean clone.
# A failed download is a warning only: those tests then skip and say why.
if [ ! -f "$(dirname "$0")/../Models/minilm/model.safetensors" ] || [ ! -f "$(dirname "$0")/../Models/minilm/vocab.txt" ]; then
  "$(dirname "$0")/fetch-minilm.sh" || echo "install-deps: warning: Scripts/fetch-minilm.sh failed; MiniLM tests will skip" >&2
fi
