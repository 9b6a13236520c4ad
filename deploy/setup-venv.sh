#!/usr/bin/env bash
# Creates the venv and installs minik8s with its test dependencies (make venv).
#
# PyPI is the source. When it cannot be reached (the machine's registries have outages), pip
# is pointed at the machine's local mirror (/opt/pypi, /opt/pypi-more, as pip.conf lists them)
# and at deploy/wheels: the pinned wheels of the few dependencies that mirror lacks or holds
# only in too old a version (see deploy/wheels/README.md). Without this, an outage costs
# ~3 minutes of retries and then fails the install.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PY=$VENV/bin/python
test -x "$PY" || python3 -m venv "$VENV"

if python3 - <<'PYEOF' 2>/dev/null; then
import urllib.request
urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=8).close()
PYEOF
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q -e '.[test]'
  exit 0
fi

echo "setup: PyPI is unreachable: installing from the local mirror and deploy/wheels"
export PIP_RETRIES=0 PIP_TIMEOUT=5
mirror=""
for d in /opt/pypi/simple /opt/pypi-more/simple; do
  if [[ -d $d ]]; then
    if [[ -z $mirror ]]; then
      export PIP_INDEX_URL=file://$d
      mirror=$d
    else
      export PIP_EXTRA_INDEX_URL=file://$d
    fi
  fi
done
[[ -n $mirror ]] || export PIP_NO_INDEX=1
# (pip warns that /opt/pypi-more lacks most packages: harmless, the first mirror has them.)
"$PY" -m pip install -q --find-links deploy/wheels -e '.[test]'
