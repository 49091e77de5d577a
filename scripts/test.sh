#!/usr/bin/env bash
# Runs Tether's whole test suite on a fresh machine: installs what the tests
# need (npm packages into testdeps/, Debian packages when run as root, pinned
# Go tools into a cache), checks formatting and static analysis, runs every
# test with the race detector in shuffled order, runs each fuzz target for a
# bounded time on top of its seed corpus, and each benchmark once so none
# rots. Extra arguments go to the main `go test` run.
set -euo pipefail
cd "$(dirname "$0")/.."

# npm packages the end-to-end tests drive, pinned in testdeps/package-lock.json.
if [ -f testdeps/package-lock.json ]; then
  npm ci --prefix testdeps --no-audit --no-fund --loglevel=error </dev/null
fi

# Debian packages the end-to-end tests drive, when we may install them.
apt_packages=(neovim tmux)
if [ "${#apt_packages[@]}" -gt 0 ] && [ "$(id -u)" = 0 ]; then
  missing=()
  for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# Go tools, pinned, installed into a directory of their own.
tools="$(go env GOCACHE)/tether-tools"
GOBIN="$tools" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2

unformatted=$(gofmt -l . | grep -v '^testdeps/' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
"$tools/staticcheck" ./...

# The ACP test tools' self-test: drive.mjs against agent.mjs, every case
# (a few seconds), on testdeps' Node 22.
NODE=testdeps/node_modules/.bin/node bash testdata/acp/selftest.sh

go test -race -count=1 -shuffle=on "$@" ./...

# Fuzz targets: a bounded run of each on top of its seed corpus in testdata.
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$3" "$1"; }
fuzz ./rpc FuzzStream 15s
fuzz ./rpc FuzzDecodeMessageMatchesReference 15s
fuzz ./handlers/tether FuzzParams 15s
fuzz ./permissions FuzzPrefixRuleNeverCoversAnotherCommand 10s
fuzz ./backends/claude FuzzLineDecoder 10s
fuzz ./internal/jsonwire FuzzAppendString 5s
fuzz ./internal/jsonwire FuzzContents 5s
fuzz ./backends/acpagent FuzzChunkOf 10s

# Every benchmark once, so none rots; the figures are for `go test -bench`,
# and are printed here only when a benchmark fails.
bench_log=$(mktemp)
trap 'rm -f "$bench_log"' EXIT
if ! go test -run '^$' -bench . -benchtime=1x ./... >"$bench_log" 2>&1; then
  cat "$bench_log" >&2
  echo "a benchmark failed (above)" >&2
  exit 1
fi
echo "benchmarks: each ran once"
