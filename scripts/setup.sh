#!/usr/bin/env bash
# Installs everything Peerloom's devnet and tests need on a fresh Debian machine with Node:
# Debian's Chromium (the e2e tests and benchmarks drive it; Playwright cannot download a browser
# here), iproute2/util-linux for the loopback-only test namespace, and the npm workspaces.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node="20.19.0"
have_node="$(node -p 'process.versions.node')"
if [ "$(printf '%s\n%s\n' "$need_node" "$have_node" | sort -V | head -n1)" != "$need_node" ]; then
  echo "Peerloom needs Node >= $need_node (found $have_node)." >&2
  exit 1
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]} from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install ${missing[*]} (e.g. sudo apt-get install -y ${missing[*]}) and run again" >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm workspaces"
  npm ci --no-audit --no-fund --loglevel=error
fi
# fixes to dependencies (patches/, see its README); npm ci applies them too, this covers an existing node_modules
node_modules/.bin/patch-package --error-on-fail >/dev/null
# the CLIs run from relay-node/dist (compiled JavaScript); without it they fall back to the TypeScript source
npm run build:relay --silent
echo "setup: ready (Node $have_node, $(chromium --version 2>/dev/null | head -n1))"
