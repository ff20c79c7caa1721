#!/usr/bin/env bash
# Exports the tiny RWKV-7 fixture to models/tiny-rwkv-7 and generates text from a prompt, printing tokens/s.
# Usage: ./run-demo.sh ["prompt"] [extra generate options, e.g. --max-tokens 200 --temperature 0]
set -euo pipefail
cd "$(dirname "$0")"

checkpoint=../shared/fixtures/rwkv-cpp/tiny-rwkv-7v0-834K-FP32.bin
model=models/tiny-rwkv-7
prompt="${1:-In the beginning}"
shift || true

dotnet build tools/Rwkv.Onnx.Cli -c Release -v quiet -nologo >/dev/null || dotnet build tools/Rwkv.Onnx.Cli -c Release -nologo
cli=(dotnet tools/Rwkv.Onnx.Cli/bin/Release/net10.0/rwkv-onnx.dll)
"${cli[@]}" export "$checkpoint" -o "$model" --force
# Defaults for the sampling options the caller did not give (an option given twice is a usage error).
options=("$@")
default() { [[ " ${options[*]} " == *" $1 "* || " ${options[*]} " == *" $1="* ]] || options+=("$1" "$2"); }
default --max-tokens 200
default --temperature 0.7
# Greedy decoding (--temperature 0) ignores top-k and the seed, and generate would warn about them.
if [[ " ${options[*]} " != *" --temperature 0 "* && " ${options[*]} " != *" --temperature=0 "* ]]; then
  default --top-k 8
  default --seed 42
fi
"${cli[@]}" generate "$model" --prompt "$prompt" "${options[@]}"
