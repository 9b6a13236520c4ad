#!/usr/bin/env bash
# Runs every test tier. pytest's exit 5 ("no tests ran") is a failure here, like any other.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
status=0
for tier in unit integration e2e conformance; do
  if ! ls tests/$tier/test_*.py >/dev/null 2>&1; then
    echo "tests/$tier: no test files yet"
    continue
  fi
  echo "=== tests/$tier"
  # The docker-compose cluster has its own target (make test-compose): its images take ~5 min
  # to build on a fresh machine.
  "$PY" -m pytest -q -p no:cacheprovider -m "${PYTEST_MARKERS:-not compose}" "tests/$tier"
  rc=$?
  if [[ $rc -eq 5 ]]; then
    echo "tests/$tier: pytest collected no tests: failing" >&2
    status=1
  elif [[ $rc -ne 0 ]]; then
    status=$rc
  fi
done
exit $status
