#!/usr/bin/env bash
# Receive-path benchmark: starts the release binary, then drives, on loopback, with wrk
# (32 connections, 10 s each):
#   1. the bare route of the same binary (read body, 200): the ceiling;
#   2. the full durable path: signed ~4.2 KB GitHub issues.opened, verified, matched against a
#      command, stored with its task in SQLite (group commit, fdatasync of the WAL), 200 after
#      the commit is on disk; every request has its own delivery id, so none is a duplicate;
# each with the server's CPU time per request and the cores it kept busy; then a paced run at
# 1,000 requests/s for p50/p99 at that rate, and the server's peak RSS.
# Usage: bench/run.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
PORT=${BENCH_PORT:-18186}
KEY=bench-key
SECRET="bench-secret"

if ! command -v wrk >/dev/null; then
  echo "--- installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi

echo "--- building release binaries"
cargo build --release --quiet --bin webhook-mcp --example load

WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; cp "$WORK/server.log" /tmp/server.log; rm -rf "$WORK"' EXIT
RUST_LOG=warn target/release/webhook-mcp --listen "127.0.0.1:$PORT" --database "$WORK/bench.db" \
  --api-key "$KEY" --bench-routes >"$WORK/server.log" 2>&1 &
PID=$!; echo $PID > /tmp/bench.pid
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

API="http://127.0.0.1:$PORT/api"
curl -fs -X POST "$API/webhooks" -H "Authorization: Bearer $KEY" \
  -d "{\"id\":\"bench\",\"name\":\"bench\",\"provider\":\"github\",\"secret\":\"$SECRET\"}" >/dev/null
curl -fs -X POST "$API/webhooks/bench/commands" -H "Authorization: Bearer $KEY" \
  -d '{"trigger":"issues.opened","action":"create_task","agent":"planning","template":"Analyze issue: {{issue.title}}","conditions":{"labels":["bug"]}}' >/dev/null

# A ~4.2 KB issues.opened payload and its signature.
python3 - "$WORK" "$SECRET" <<'PY'
import hashlib, hmac, json, sys
work, secret = sys.argv[1], sys.argv[2]
body = {"action": "opened", "issue": {"number": 42, "title": "Login fails with 500 on submit",
        "body": ("Steps to reproduce: open the login page, submit valid credentials. " * 60)[:4200],
        "labels": [{"name": "bug"}], "user": {"login": "octocat"}},
        "repository": {"full_name": "octo/app", "name": "app"}, "sender": {"login": "octocat"}}
raw = json.dumps(body, separators=(",", ":")).encode()
open(f"{work}/body.json", "wb").write(raw)
sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
open(f"{work}/sig.txt", "w").write(sig)
print(f"payload: {len(raw)} bytes")
PY
SIG=$(cat "$WORK/sig.txt")

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$WORK/body.json", "rb"); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "issues"
wrk.headers["X-Hub-Signature-256"] = "$SIG"
local threads, n = 0, 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function request()
  n = n + 1
  wrk.headers["X-GitHub-Delivery"] = tid .. "-" .. n
  return wrk.format()
end
LUA

# The server's CPU time so far, in clock ticks (user + system, all its threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

run() { # name url
  local before after
  before=$(cpu_ticks)
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/post.lua" "$2" >"$WORK/$1.txt"
  after=$(cpu_ticks)
  local rps p50 p99 errors requests cpu
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$WORK/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.txt")
  errors=$(awk '/Non-2xx/ {print $5}' "$WORK/$1.txt"); errors=${errors:-0}
  requests=$(awk '/requests in/ {print $1}' "$WORK/$1.txt")
  # Server CPU per request, and how many cores the server kept busy (wrk takes the rest).
  cpu=$(python3 -c "import sys; t, n, s, hz = map(float, sys.argv[1:]); \
print(f'{t / hz * 1e6 / max(n, 1):.1f} {t / hz / s:.2f}')" \
    "$((after - before))" "$requests" "$SECS" "$(getconf CLK_TCK)")
  printf "%-28s %12s %10s %10s %10s %12s %8s\n" "$1" "$rps" "$p50" "$p99" "$errors" $cpu
  echo "$rps" >"$WORK/$1.rps"
}

echo "--- $CONNS connections, ${SECS}s each, $(nproc) cores"
printf "%-28s %12s %10s %10s %10s %12s %8s\n" "route" "req/s" "p50" "p99" "non-2xx" \
  "cpu µs/req" "cores"
run bare "http://127.0.0.1:$PORT/bench/bare"
writer() { curl -fs "http://127.0.0.1:$PORT/metrics" -H "Authorization: Bearer $KEY" | grep '^webhook_mcp_store_'; }
writer >"$WORK/writer.before"
run durable "http://127.0.0.1:$PORT/webhooks/github/bench"
writer >"$WORK/writer.after"
python3 -c "import sys; b,d=float(sys.argv[1]),float(sys.argv[2]); print(f'durable / bare = {d/b:.2f}')" \
  "$(cat "$WORK/bare.rps")" "$(cat "$WORK/durable.rps")"

python3 - "$WORK/writer.before" "$WORK/writer.after" <<'PY'
import sys
def read(path):
    return {l.split()[0]: float(l.split()[1]) for l in open(path)}
a, b = read(sys.argv[1]), read(sys.argv[2])
d = {k.removeprefix("webhook_mcp_store_").removesuffix("_total"): b[k] - a[k] for k in b}
commits = max(d["commits"], 1)
syncs = max(d["syncs"], 1)
print(f"writer: {d['commits']:.0f} commits of {d['writes'] / commits:.1f} writes, "
      f"{1000 * d['work_seconds'] / commits:.2f} ms SQL + {1000 * d['commit_seconds'] / commits:.2f} ms commit each; "
      f"{d['syncs']:.0f} fdatasyncs of {1000 * d['sync_seconds'] / syncs:.2f} ms, {d['writes'] / syncs:.1f} writes each")
PY

echo "--- paced: 1,000 requests/s for ${SECS}s on the durable path"
stalls() { curl -fs "http://127.0.0.1:$PORT/metrics" -H "Authorization: Bearer $KEY" | grep '_duration_seconds_'; }
stalls >"$WORK/stalls.before"
target/release/examples/load --url "http://127.0.0.1:$PORT/webhooks/github/bench" \
  --body "$WORK/body.json" --signature "$SIG" --rate 1000 --seconds "$SECS"
stalls >"$WORK/stalls.after"
# What made the tail: commits that held a checkpoint, and fdatasyncs the disk sat on.
python3 - "$WORK/stalls.before" "$WORK/stalls.after" <<'PY'
import sys
def read(path):
    return {l.split()[0]: float(l.split()[1]) for l in open(path)}
a, b = read(sys.argv[1]), read(sys.argv[2])
def over(kind, bound):
    name = f"webhook_mcp_store_{kind}_duration_seconds"
    d = lambda k: b[k] - a[k]
    total = d(f"{name}_count")
    return total, total - d(f'{name}_bucket{{le="{bound}"}}')
commits, slow_commits = over("commit", "0.005")
syncs, slow_syncs = over("sync", "0.01")
print(f"during the paced run: {slow_commits:.0f} of {commits:.0f} commits over 5 ms, "
      f"{slow_syncs:.0f} of {syncs:.0f} fdatasyncs over 10 ms")
PY

STORED=$(curl -fs "http://127.0.0.1:$PORT/health" | python3 -c "import sys,json; print(json.load(sys.stdin)['status'])")
echo "health after load: $STORED"
echo "peak RSS: $(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)"
