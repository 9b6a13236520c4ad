#!/usr/bin/env bash
# Installs the Debian packages minik8s needs, idempotently: apt-get update runs once, and only
# when something is missing.
set -euo pipefail

# docker-registry: the e2e tests' local registry on 127.0.0.1 (its own process and config; the
# package's systemd service is not used). curl: the LoadBalancer e2e tests curl external IPs.
# wget: Debian's GNU wget goes into the minik8s/busybox image (busybox 1.35's crashes on -T).
# haproxy: the load balancer in front of several apiservers (run by minik8s with its own
# configuration; the package's service is not used).
PACKAGES=(etcd-server etcd-client iptables iproute2 python3-venv docker.io busybox-static debootstrap
          docker-compose docker-registry curl wget chromium chromium-driver haproxy)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v etcd >/dev/null || { echo "setup: etcd is not on PATH after install" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "setup: dockerd is not on PATH after install" >&2; exit 1; }
command -v docker-registry >/dev/null || { echo "setup: docker-registry is not on PATH after install" >&2; exit 1; }
