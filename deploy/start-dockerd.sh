#!/usr/bin/env bash
# Starts dockerd in the background when no Docker engine answers, and waits for its socket.
# Idempotent: does nothing when `docker info` already works. No systemd here: dockerd runs as
# a plain background process whose log goes to ~/.minik8s/dockerd.log.
set -euo pipefail

TIMEOUT=${DOCKERD_TIMEOUT:-60}
LOG_DIR=${MINIK8S_HOME:-$HOME/.minik8s}
# Debian's docker.io client matches its daemon; fall back to whatever `docker` is on PATH.
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)

if "$DOCKER" info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null || { echo "start-dockerd: dockerd not found: run deploy/setup-system.sh" >&2; exit 1; }

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
mkdir -p "$LOG_DIR"
echo "start-dockerd: starting dockerd (log: $LOG_DIR/dockerd.log)"
# setsid: dockerd must outlive this script and the make/pytest that ran it.
$SUDO setsid dockerd >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &

for ((i = 0; i < TIMEOUT * 4; i++)); do
  if [[ -S /var/run/docker.sock ]] && "$DOCKER" info >/dev/null 2>&1; then
    echo "start-dockerd: dockerd is up"
    exit 0
  fi
  sleep 0.25
done
echo "start-dockerd: dockerd did not answer within ${TIMEOUT}s; last log lines:" >&2
tail -n 20 "$LOG_DIR/dockerd.log" >&2 || true
exit 1
