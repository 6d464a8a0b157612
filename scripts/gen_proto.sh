#!/usr/bin/env bash
# Regenerates xir/proto/graph_proto_v2_pb2.py from xir/proto/graph_proto_v2.proto.
# Needs grpcio-tools (it bundles protoc): pip install grpcio-tools
# The generated module requires a protobuf runtime at least as new as the protoc that wrote it;
# keep the protobuf lower bound in pyproject.toml in step with it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
"$PY" -m grpc_tools.protoc --proto_path=xir/proto --python_out=xir/proto xir/proto/graph_proto_v2.proto
echo "wrote xir/proto/graph_proto_v2_pb2.py ($("$PY" -m grpc_tools.protoc --version))"
