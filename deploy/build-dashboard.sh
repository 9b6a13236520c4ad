#!/usr/bin/env bash
# Builds the dashboard's frontend (minik8s/dashboard/frontend -> minik8s/dashboard/static).
# npm installs the pinned packages of package-lock.json once (`npm ci`); later builds reuse
# node_modules, and npm's cache lets a fresh install work offline after the first one.
set -euo pipefail
cd "$(dirname "$0")/../minik8s/dashboard/frontend"
command -v npm >/dev/null || { echo "dashboard: npm is not installed (node 20 and npm are needed)" >&2; exit 1; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "dashboard: installing the frontend's npm packages (pinned by package-lock.json)"
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi
npx --no-install vite build --logLevel warn
