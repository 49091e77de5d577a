#!/usr/bin/env bash
# Runs drive.mjs against agent.mjs for every case in selftest/*.json (the
# case names its scenario) and checks the events with selftest/check.mjs.
# Needs `npm ci --prefix testdeps`. NODE picks the node binary (default:
# node on PATH; testdeps/node_modules/.bin/node is Node 22).
set -euo pipefail
NODE=${NODE:-node}
# A relative NODE is relative to where we were started.
case $NODE in */*) NODE=$(cd "$(dirname "$NODE")" && pwd)/$(basename "$NODE") ;; esac
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
for steps in selftest/*.json; do
  name=$(basename "$steps" .json)
  scenario=$("$NODE" -p "require('./$steps').scenario")
  dir="$tmp/$name"
  mkdir -p "$dir/cwd"
  vars=("ACP_AGENT_RECORD=$dir/record.jsonl")
  # The state-* cases share one state file: the second is a restarted agent.
  case $name in state-*) vars+=("ACP_AGENT_STATE=$tmp/state.json") ;; esac
  rc=0
  env "${vars[@]}" "$NODE" drive.mjs --cwd "$dir/cwd" "$steps" -- "$NODE" agent.mjs "$scenario" \
    >"$dir/events.jsonl" 2>"$dir/stderr.txt" || rc=$?
  if "$NODE" selftest/check.mjs "$name" "$dir" "$rc"; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name (drive.mjs exit $rc); its last events and stderr:"
    tail -n 5 "$dir/events.jsonl" | cut -c1-400
    tail -n 20 "$dir/stderr.txt"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
