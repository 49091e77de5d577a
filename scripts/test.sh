#!/usr/bin/env bash
# Runs Tether's whole test suite on a fresh machine: installs what the tests
# need (npm packages into testdeps/, Debian packages when run as root), then
# runs go vet and go test -race on every package, and every benchmark once
# so that none rots (their numbers are not checked; README.md, Performance,
# says how to measure).
set -euo pipefail
cd "$(dirname "$0")/.."

# npm packages the end-to-end tests drive, pinned in testdeps/package-lock.json.
if [ -f testdeps/package-lock.json ]; then
  npm ci --prefix testdeps --no-audit --no-fund --loglevel=error
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

go vet ./...
go test -race -count=1 "$@" ./...
go test -run '^$' -bench . -benchtime=1x ./...
