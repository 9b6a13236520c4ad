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
  # PYTEST_MARKERS narrows the run, e.g. PYTEST_MARKERS="not compose" skips the
  # docker-compose cluster (whose images take ~5 min to build on a fresh machine).
  markers=()
  [[ -n ${PYTEST_MARKERS:-} ]] && markers=(-m "$PYTEST_MARKERS")
  "$PY" -m pytest -q -p no:cacheprovider "${markers[@]}" "tests/$tier"
  rc=$?
  if [[ $rc -eq 5 ]]; then
    echo "tests/$tier: pytest collected no tests: failing" >&2
    status=1
  elif [[ $rc -ne 0 ]]; then
    status=$rc
  fi
done
exit $status
