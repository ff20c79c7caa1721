#!/usr/bin/env bash
# Runs every test. The examples' tests drive Node.js and Debian's Chromium, so this first installs what they need on
# a fresh Debian 12 machine (quickly skipped when it is there), then runs dotnet test; extra arguments go to it.
# Usage: ./run-tests.sh [dotnet test options, e.g. --filter "FullyQualifiedName~NodeExampleTests"]
set -euo pipefail
cd "$(dirname "$0")"

# examples/web's tests drive Debian's Chromium (a missing browser fails them, never skips them).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "run-tests: installing Debian's chromium for the browser example's tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
# Each example's npm packages, exactly as its lockfile says; skipped when that lockfile is already installed. The
# examples' .npmrc turns install scripts off (onnxruntime-node's would download CUDA libraries).
for example in examples/node examples/web; do
  if ! cmp -s "$example/package-lock.json" "$example/node_modules/.ci-installed-lock.json"; then
    (cd "$example" && npm ci --no-audit --no-fund --ignore-scripts >&2 && cp package-lock.json node_modules/.ci-installed-lock.json)
  fi
done

exec dotnet test RwkvOnnx.sln -c Release "$@"
