#!/usr/bin/env bash
# Builds the images minik8s runs, without any registry, skipping those that already exist:
#   minik8s/pause    the pod sandbox: busybox sh that sleeps forever and exits 0 on SIGTERM
#   minik8s/busybox  Debian's busybox-static with every applet linked (sh, httpd, wget, nc, …)
#   minik8s/nginx    a debootstrap minbase Debian with nginx; also tagged nginx:latest
# The Debian rootfs is cached as a tarball under ~/.minik8s/cache, so a rebuild after
# `docker rmi` takes seconds. The mirror is read from apt's sources on this machine.
# Usage: deploy/images/build.sh [--force] [pause|busybox|nginx ...]
set -euo pipefail

CACHE=${MINIK8S_CACHE:-${MINIK8S_HOME:-$HOME/.minik8s}/cache}
SUITE=${MINIK8S_DEBIAN_SUITE:-bookworm}
BUSYBOX=/bin/busybox
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
FORCE=0
targets=()
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    pause | busybox | nginx) targets+=("$arg") ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(pause busybox nginx)

have_image() { [[ $FORCE -eq 0 ]] && "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# A rootfs with busybox-static and a link for each of its applets, plus the files programs
# expect (/etc/passwd, /tmp, …).
busybox_rootfs() {
  local root=$1
  [[ -x $BUSYBOX ]] || { echo "build.sh: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }
  "$BUSYBOX" --list-full >/dev/null 2>&1 || { echo "build.sh: $BUSYBOX is not busybox-static" >&2; exit 1; }
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/www,home}
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    ln -sf /bin/busybox "$root/$applet"
  done < <("$BUSYBOX" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

import_dir() {  # import_dir DIR IMAGE CMD-JSON
  tar --numeric-owner -C "$1" -c . | "$DOCKER" import -c "CMD $3" - "$2" >/dev/null
}

build_pause() {
  have_image minik8s/pause:latest && { echo "images: minik8s/pause exists"; return; }
  local root
  root=$(mktemp -d)
  mkdir -p "$root/bin"
  cp "$BUSYBOX" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  ln -s busybox "$root/bin/sleep"
  # PID 1 ignores signals it has no handler for: the trap makes SIGTERM end the sandbox at once.
  import_dir "$root" minik8s/pause:latest \
    '["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
  rm -rf "$root"
  echo "images: built minik8s/pause"
}

build_busybox() {
  have_image minik8s/busybox:latest && { echo "images: minik8s/busybox exists"; return; }
  local root
  root=$(mktemp -d)
  busybox_rootfs "$root"
  import_dir "$root" minik8s/busybox:latest '["sh"]'
  rm -rf "$root"
  echo "images: built minik8s/busybox"
}

# The first http(s) Debian mirror apt uses here (deb822 .sources first, then sources.list).
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [[ -z $uri && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [[ -n $uri ]] || { echo "build.sh: no Debian mirror found in apt's sources" >&2; exit 1; }
  echo "$uri"
}

build_nginx() {
  if have_image minik8s/nginx:latest; then
    "$DOCKER" image inspect nginx:latest >/dev/null 2>&1 || "$DOCKER" tag minik8s/nginx:latest nginx:latest
    echo "images: minik8s/nginx exists"
    return
  fi
  local tarball=$CACHE/debian-$SUITE-nginx.tar
  if [[ ! -s $tarball || $FORCE -eq 1 ]]; then
    command -v debootstrap >/dev/null || { echo "build.sh: debootstrap missing: run deploy/setup-system.sh" >&2; exit 1; }
    local mirror root started=$SECONDS
    mirror=$(debian_mirror)
    root=$(mktemp -d)
    echo "images: debootstrap $SUITE from $mirror (about a minute; cached afterwards)"
    debootstrap --variant=minbase --include=nginx-light "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 || {
      echo "build.sh: debootstrap failed; log:" >&2; tail -n 30 "$root.log" >&2; rm -rf "$root"; exit 1
    }
    rm -f "$root.log"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
    # Logs to the container's stdout/stderr, like the official image, so `kubectl logs` shows them.
    ln -sf /dev/stdout "$root/var/log/nginx/access.log"
    ln -sf /dev/stderr "$root/var/log/nginx/error.log"
    mkdir -p "$CACHE"
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    echo "images: Debian rootfs built in $((SECONDS - started))s, cached at $tarball"
  fi
  "$DOCKER" import -c 'CMD ["nginx", "-g", "daemon off;"]' \
    "$tarball" minik8s/nginx:latest >/dev/null
  "$DOCKER" tag minik8s/nginx:latest nginx:latest
  echo "images: built minik8s/nginx (tagged nginx:latest)"
}

for target in "${targets[@]}"; do
  "build_$target"
done
