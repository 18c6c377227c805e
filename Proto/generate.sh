#!/bin/sh
# Regenerates Sources/FlowProto/flowturbo.pb.swift from Proto/flowturbo.proto.
# Builds protoc-gen-swift once from the resolved swift-protobuf checkout (run `swift build` first
# so the checkout exists). Usage: Proto/generate.sh [scratch-path]   (default .build-cluster)
set -eu
cd "$(dirname "$0")/.."
SCRATCH="${1:-.build-cluster}"
PLUGIN_DIR="${PGS_DIR:-/tmp/pgs}"
PLUGIN="$PLUGIN_DIR/release/protoc-gen-swift"
if [ ! -x "$PLUGIN" ]; then
  CHECKOUT="$SCRATCH/checkouts/swift-protobuf"
  [ -d "$CHECKOUT" ] || { echo "generate.sh: $CHECKOUT missing; run 'swift build --scratch-path $SCRATCH' first" >&2; exit 1; }
  swift build -c release --product protoc-gen-swift --package-path "$CHECKOUT" --scratch-path "$PLUGIN_DIR"
fi
protoc --plugin=protoc-gen-swift="$PLUGIN" --swift_out=Sources/FlowProto --swift_opt=Visibility=Public Proto/flowturbo.proto
# protoc names the output after the proto path (Proto/flowturbo.pb.swift); flatten it.
if [ -f Sources/FlowProto/Proto/flowturbo.pb.swift ]; then
  mv Sources/FlowProto/Proto/flowturbo.pb.swift Sources/FlowProto/flowturbo.pb.swift
  rmdir Sources/FlowProto/Proto
fi
echo "generated Sources/FlowProto/flowturbo.pb.swift"
