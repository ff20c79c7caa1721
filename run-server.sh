#!/usr/bin/env bash
# Exports the tiny RWKV-7 fixture to models/tiny-rwkv-7 (as run-demo.sh does) and serves it over the OpenAI-compatible
# HTTP API on http://127.0.0.1:8000 until Ctrl+C (which drains running requests).
# Usage: ./run-server.sh [extra serve options, e.g. --port 8080 --api-key sk-local]
set -euo pipefail
cd "$(dirname "$0")"

checkpoint=../shared/fixtures/rwkv-cpp/tiny-rwkv-7v0-834K-FP32.bin
model=models/tiny-rwkv-7

dotnet build tools/Rwkv.Onnx.Cli -c Release -v quiet -nologo >/dev/null || dotnet build tools/Rwkv.Onnx.Cli -c Release -nologo
cli=(dotnet tools/Rwkv.Onnx.Cli/bin/Release/net10.0/rwkv-onnx.dll)
"${cli[@]}" export "$checkpoint" -o "$model" --force >/dev/null
exec "${cli[@]}" serve "$model" "$@"
