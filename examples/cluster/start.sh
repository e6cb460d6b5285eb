#!/usr/bin/env bash
# A Voltlane cluster on one machine: redis-server, the demo echo master and three edges sharing one key file.
# Usage: examples/cluster/start.sh [DIR]     (DIR holds the config, the key, Redis's data and the logs)
# Edges listen on 127.0.0.1:42010, :42011, :42012 (status servers on :9470, :9471, :9472); Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/cli/main.js ] || npm run build >/dev/null
voltlane() { exec node dist/cli/main.js "$@"; }
dir="${1:-$(mktemp -d -t voltlane-cluster-XXXXXX)}"
mkdir -p "$dir"
redis_port="${REDIS_PORT:-6390}"
pids=()
stop() {
  trap - EXIT INT TERM
  # Edges first (they leave the cluster), then the echo master and Redis.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
}
trap stop EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' >"$dir/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done

(voltlane echo-master --listen 127.0.0.1:42001) >"$dir/echo-master.log" 2>&1 &
pids+=($!)

export VOLTLANE_CLUSTER_REDIS_URL="redis://127.0.0.1:$redis_port"
export VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE="${VOLTLANE_CLIENTS_MISSED_PACKETS_BUFFER_SIZE:-256}"
# One config and one key for the three edges (they must share the key).
[ -f "$dir/connserver.toml" ] || (voltlane init --config "$dir/connserver.toml") >/dev/null
for i in 0 1 2; do
  (voltlane --config "$dir/connserver.toml" --listen "127.0.0.1:$((42010 + i))" --master 127.0.0.1:42001 \
    --http "127.0.0.1:$((9470 + i))" --log-format json) >"$dir/edge$i.log" 2>&1 &
  pids+=($!)
  until grep -q '"edge.started"' "$dir/edge$i.log" 2>/dev/null; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$dir/edge$i.log" >&2; exit 1; fi
    sleep 0.1
  done
done
echo "cluster up in $dir: edges 127.0.0.1:42010 42011 42012, status http://127.0.0.1:9470/ (9471, 9472), Redis :$redis_port"
echo "try: npx voltlane client 127.0.0.1:42010    (Ctrl-C here stops the cluster)"
wait
