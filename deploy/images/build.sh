#!/usr/bin/env bash
# Builds the images minik8s runs, without any registry, skipping those that already exist:
#   minik8s/pause    the pod sandbox: busybox sh that sleeps forever and exits 0 on SIGTERM
#   minik8s/busybox  Debian's busybox-static with every applet linked (sh, httpd, nc, nslookup,
#                    ping, …), but `wget` is Debian's GNU wget with the libraries it links: the
#                    applet of Debian's busybox 1.35 (static or not) is built without
#                    FEATURE_WGET_TIMEOUT and crashes on `wget -T`
#   minik8s/nginx    a debootstrap minbase Debian with nginx; also tagged nginx:latest
#   minik8s/python-client  minik8s/base + the official Python client (`kubernetes`, the
#                    version of the venv's, from host-built wheels): a pod that calls
#                    load_incluster_config() (tests/e2e/test_seed_flow.py)
# and, for the docker-compose cluster (`compose`, i.e. all of the following):
#   minik8s/base     a debootstrap minbase Debian with python3 (python3-venv)
#   minik8s/etcd     a debootstrap minbase Debian with Debian's etcd-server
#   minik8s/node-os  the base plus docker.io, iptables, iproute2 (debootstrap --include)
#   minik8s/minik8s  $BASE_IMAGE (default minik8s/base) + the project from host-built wheels
#   minik8s/node     minik8s/node-os + the project: a kind-style node (dockerd, kubelet, proxy)
#   minik8s/haproxy  the HA layout's load balancer (deploy/docker-compose.ha.yml): this host's
#                    haproxy (Debian's package, installed by deploy/setup-system.sh) with the
#                    libraries it links, on the busybox rootfs with GNU wget (its health check)
#   node-images      ~/.minik8s/cache/node-images.tar: `docker save` of the images each node
#                    container loads into its own dockerd (nodes cannot pull)
# Every Debian rootfs is cached as a tarball under ~/.minik8s/cache (and the downloaded .debs
# are shared between them), so a rebuild after `docker rmi` takes seconds. The mirror is read
# from apt's sources on this machine. Nothing inside a `docker build` downloads: wheels are
# built on the host (`pip wheel`) and installed with `pip install --no-index`.
# Usage: deploy/images/build.sh [--force] [pause|busybox|nginx|base|etcd|node-os|minik8s|node
#                                |node-images|python-client|haproxy|compose ...]
#   MINIK8S_IMAGE_TAG tags minik8s/minik8s and minik8s/node (default latest; the compose file
#   reads the same variable), so a branch can build and run its own without touching latest.
set -euo pipefail

CACHE=${MINIK8S_CACHE:-${MINIK8S_HOME:-$HOME/.minik8s}/cache}
SUITE=${MINIK8S_DEBIAN_SUITE:-bookworm}
BUSYBOX=/bin/busybox
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PIP=${PIP:-$REPO/${VENV:-.venv}/bin/pip}
FORCE=0
targets=()
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    pause | busybox | nginx | base | etcd | node-os | minik8s | node | node-images | python-client | haproxy)
      targets+=("$arg") ;;
    compose) targets+=(pause busybox nginx base etcd node-os minik8s node node-images python-client haproxy) ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(pause busybox nginx)

declare -A BUILT=()  # images built by this run: --force rebuilds each once, not per dependent
# An image whose content changed gets a new version here: one built before (without this
# label value) is rebuilt. Images without an entry are built once.
declare -A VERSION=([minik8s/busybox:latest]=3)
have_image() {
  [[ -n ${BUILT[$1]:-} ]] && return 0
  [[ $FORCE -eq 0 ]] || return 1
  local want=${VERSION[$1]:-} got
  got=$("$DOCKER" image inspect -f '{{index .Config.Labels "minik8s.image-version"}}' "$1" 2>/dev/null) || return 1
  [[ -z $want || $got == "$want" ]]
}
version_label() {  # the `docker import -c` change that labels IMAGE with its version
  echo "LABEL minik8s.image-version=${VERSION[$1]:-1}"
}
# Every image built here is labelled io.minik8s.image=<its name> (minik8s.Dockerfile sets it
# too), so that the end of a build can remove the images of ours it left untagged, and nobody
# else's.
OWNER_LABEL=io.minik8s.image
owner_label() {  # the `docker import -c` change that marks IMAGE[:TAG] as ours
  echo "LABEL $OWNER_LABEL=${1%:*}"
}

# copy_with_libraries ROOT FILE: FILE and every shared library it links (from this host, the
# same Debian release as the packages copied) into ROOT.
copy_with_libraries() {
  local root=$1 file=$2 lib
  for lib in $(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# Debian's dynamically linked busybox (package busybox, which conflicts with the installed
# busybox-static: downloaded, not installed; cached with the other .debs); prints its path.
dynamic_busybox() {
  local debs=$CACHE/debs deb
  mkdir -p "$debs"
  deb=$(ls "$debs"/busybox_*.deb 2>/dev/null | tail -n 1)
  if [[ -z $deb ]]; then
    (cd "$debs" && { apt-get download -q busybox >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get download -q busybox >/dev/null 2>&1; }; }) ||
      { echo "build.sh: cannot download Debian's busybox package (apt-get download busybox)" >&2; exit 1; }
    deb=$(ls "$debs"/busybox_*.deb | tail -n 1)
  fi
  local extracted=$CACHE/busybox-dynamic
  if [[ ! -x $extracted/bin/busybox || $deb -nt $extracted/bin/busybox ]]; then
    rm -rf "$extracted"
    dpkg-deb -x "$deb" "$extracted"
  fi
  echo "$extracted/bin/busybox"
}

# A rootfs with busybox and a link for each applet, plus the files programs expect
# (/etc/passwd, /tmp, …). Debian's dynamic busybox is the shell and most applets: its `sh`
# runs commands found on PATH (busybox-static's prefers its own applets, whatever PATH says),
# so GNU wget (`gnu_wget`) replaces the applet. The few applets only busybox-static has (su,
# crond, tc, …) come from it, as /bin/busybox-static.
busybox_rootfs() {
  local root=$1 dynamic applet
  [[ -x $BUSYBOX ]] || { echo "build.sh: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }
  "$BUSYBOX" --list-full >/dev/null 2>&1 || { echo "build.sh: $BUSYBOX is not busybox-static" >&2; exit 1; }
  dynamic=$(dynamic_busybox)
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/www,home}
  chmod 1777 "$root/tmp"
  cp "$dynamic" "$root/bin/busybox"
  copy_with_libraries "$root" "$dynamic"
  cp "$BUSYBOX" "$root/bin/busybox-static"
  while read -r applet; do
    [[ $applet == bin/busybox ]] && continue
    ln -sf /bin/busybox "$root/$applet"
  done < <("$dynamic" --list-full)
  while read -r applet; do
    [[ $applet == bin/busybox || -e $root/$applet || -L $root/$applet ]] && continue
    ln -sf /bin/busybox-static "$root/$applet"
  done < <("$BUSYBOX" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

import_dir() {  # import_dir DIR IMAGE CMD-JSON
  tar --numeric-owner -C "$1" -c . |
    "$DOCKER" import -c "CMD $3" -c "$(version_label "$2")" -c "$(owner_label "$2")" - "$2" >/dev/null
}

# Debian's GNU wget (package wget) and every library it links, in place of busybox's applet;
# glibc resolves names through /etc/nsswitch.conf (files, then the DNS).
gnu_wget() {
  local root=$1 wget=/usr/bin/wget
  { [[ -x $wget ]] && "$wget" --version 2>/dev/null | grep -q "GNU Wget"; } || {
    echo "build.sh: GNU wget missing: apt-get install wget" >&2; exit 1; }
  rm -f "$root/usr/bin/wget" "$root/bin/wget"
  cp "$wget" "$root/usr/bin/wget"
  copy_with_libraries "$root" "$wget"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

build_haproxy() {
  have_image minik8s/haproxy:latest && { echo "images: minik8s/haproxy exists"; return; }
  local root haproxy
  haproxy=$(command -v haproxy) || { echo "build.sh: haproxy missing: run deploy/setup-system.sh" >&2; exit 1; }
  root=$(mktemp -d)
  busybox_rootfs "$root"
  gnu_wget "$root"
  mkdir -p "$root/usr/sbin" "$root/var/lib/haproxy" "$root/usr/local/etc/haproxy"
  cp "$haproxy" "$root/usr/sbin/haproxy"
  copy_with_libraries "$root" "$haproxy"
  import_dir "$root" minik8s/haproxy:latest '["haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]'
  rm -rf "$root"
  echo "images: built minik8s/haproxy ($("$haproxy" -v | head -n 1 | cut -d' ' -f1-3))"
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
  gnu_wget "$root"
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

# debian_rootfs NAME PACKAGES: the cached tarball of a minbase Debian with PACKAGES (comma-
# separated), made by debootstrap on first use; prints its path. $2 may be empty.
debian_rootfs() {
  local name=$1 packages=$2 tarball=$CACHE/debian-$SUITE-$1.tar
  if [[ ! -s $tarball || $FORCE -eq 1 ]]; then
    command -v debootstrap >/dev/null || { echo "build.sh: debootstrap missing: run deploy/setup-system.sh" >&2; exit 1; }
    local mirror root started=$SECONDS
    mirror=$(debian_mirror)
    root=$(mktemp -d)
    mkdir -p "$CACHE/debs"
    echo "images: debootstrap $SUITE ($name: ${packages:-minbase}) from $mirror (about a minute; cached afterwards)" >&2
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" ${packages:+--include="$packages"} \
      "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 || {
      echo "build.sh: debootstrap failed; log:" >&2; tail -n 30 "$root.log" >&2; rm -rf "$root"; exit 1
    }
    rm -f "$root.log"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
      "$root"/usr/share/man/* "$root"/usr/share/locale/*
    if [[ $name == nginx ]]; then
      # Logs to the container's stdout/stderr, like the official image, so `kubectl logs` shows them.
      ln -sf /dev/stdout "$root/var/log/nginx/access.log"
      ln -sf /dev/stderr "$root/var/log/nginx/error.log"
    fi
    mkdir -p "$CACHE"
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    echo "images: Debian rootfs $name built in $((SECONDS - started))s, cached at $tarball" >&2
  fi
  echo "$tarball"
}

build_nginx() {
  if have_image minik8s/nginx:latest; then
    "$DOCKER" image inspect nginx:latest >/dev/null 2>&1 || "$DOCKER" tag minik8s/nginx:latest nginx:latest
    echo "images: minik8s/nginx exists"
    return
  fi
  local tarball
  tarball=$(debian_rootfs nginx nginx-light)
  "$DOCKER" import -c 'CMD ["nginx", "-g", "daemon off;"]' -c "$(owner_label minik8s/nginx)" \
    "$tarball" minik8s/nginx:latest >/dev/null
  "$DOCKER" tag minik8s/nginx:latest nginx:latest
  echo "images: built minik8s/nginx (tagged nginx:latest)"
}

# import_rootfs IMAGE NAME PACKAGES [CHANGE...]: docker import of a cached Debian rootfs.
import_rootfs() {
  local image=$1 name=$2 packages=$3 tarball
  shift 3
  have_image "$image:latest" && { echo "images: $image exists"; return; }
  tarball=$(debian_rootfs "$name" "$packages")
  local changes=(-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    -c "$(owner_label "$image")")
  for change in "$@"; do changes+=(-c "$change"); done
  "$DOCKER" import "${changes[@]}" "$tarball" "$image:latest" >/dev/null
  BUILT[$image:latest]=1
  echo "images: built $image"
}

build_base() { import_rootfs minik8s/base base python3,python3-venv 'CMD ["python3"]'; }

build_etcd() {
  import_rootfs minik8s/etcd etcd etcd-server 'CMD ["etcd"]'
}

build_node-os() {
  import_rootfs minik8s/node-os node python3,python3-venv,docker.io,iptables,iproute2,procps \
    'CMD ["bash"]'
}

# The host-built wheels: the dependencies (rebuilt when pyproject.toml changes) and the
# project's own wheel (rebuilt every time, it is small), laid out as the build context.
CONTEXT_READY=0
wheels_context() {
  local context=$CACHE/image-context deps_stamp
  if ((CONTEXT_READY)); then echo "$context"; return; fi
  deps_stamp=$("$REPO/${VENV:-.venv}/bin/python" -c \
    'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"])' \
    "$REPO/pyproject.toml" | sha256sum | cut -c1-16)
  mkdir -p "$context"
  if [[ ! -f $context/wheels/deps/.stamp-$deps_stamp ]]; then
    echo "images: building dependency wheels on the host (pip wheel)" >&2
    rm -rf "$context/wheels/deps"
    mkdir -p "$context/wheels/deps"
    "$PIP" wheel -q --wheel-dir "$context/wheels/deps" "$REPO" >&2
    rm -f "$context"/wheels/deps/minik8s-*.whl
    touch "$context/wheels/deps/.stamp-$deps_stamp"
  fi
  rm -rf "$context/wheels/minik8s" "$context/compose"
  mkdir -p "$context/wheels/minik8s"
  # The dashboard's built frontend goes into the wheel (package data); npm never runs in an image.
  if [[ ! -f $REPO/minik8s/dashboard/static/index.html ]]; then
    bash "$REPO/deploy/build-dashboard.sh" >&2 ||
      echo "images: the dashboard's frontend could not be built: its page answers 503" >&2
  fi
  # A fixed timestamp makes the wheel byte-identical when the code is, so Docker's layer
  # cache holds across rebuilds of unchanged sources.
  SOURCE_DATE_EPOCH=315532800 "$PIP" wheel -q --no-deps --wheel-dir "$context/wheels/minik8s" "$REPO" >&2
  rm -rf "$REPO/build"
  cp -r "$REPO/deploy/compose" "$context/compose"
  rm -rf "$context/compose/__pycache__"
  CONTEXT_READY=1
  echo "$context"
}

docker_build() {  # docker_build IMAGE BASE (tagged $MINIK8S_IMAGE_TAG, default latest)
  local context=$CACHE/image-context tag=${MINIK8S_IMAGE_TAG:-latest}
  wheels_context >/dev/null
  "$DOCKER" build -q -f "$REPO/deploy/images/minik8s.Dockerfile" \
    --build-arg "BASE_IMAGE=$2" --build-arg "IMAGE=$1" -t "$1:$tag" "$context" >/dev/null
  echo "images: built $1:$tag (from $2)"
}

# Always rebuilt (Docker's layer cache makes an unchanged rebuild take seconds): the images
# carry the project's code.
build_minik8s() {
  [[ -n ${BASE_IMAGE:-} ]] || build_base
  docker_build minik8s/minik8s "${BASE_IMAGE:-minik8s/base:latest}"
}

build_node() {
  build_node-os
  docker_build minik8s/node minik8s/node-os:latest
}

# The official Python client in a pod: the venv's version of `kubernetes` and its dependencies
# as wheels built on the host (cached per version), installed without an index.
build_python-client() {
  have_image minik8s/python-client:latest && { echo "images: minik8s/python-client exists"; return; }
  build_base
  local version context
  version=$("$REPO/${VENV:-.venv}/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes"))') ||
    { echo "build.sh: the venv has no kubernetes package: pip install -e '.[test]'" >&2; exit 1; }
  context=$CACHE/python-client-$version
  if [[ ! -f $context/.complete ]]; then
    echo "images: building the wheels of kubernetes==$version on the host (pip wheel)" >&2
    rm -rf "$context"
    mkdir -p "$context"
    "$PIP" wheel -q --wheel-dir "$context" "kubernetes==$version" >&2
    touch "$context/.complete"
  fi
  "$DOCKER" build -q -t minik8s/python-client:latest -f - "$context" >/dev/null <<'DOCKERFILE'
FROM minik8s/base:latest
ENV PATH=/opt/client/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
COPY . /tmp/wheels
RUN python3 -m venv /opt/client \
 && /opt/client/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check \
      --find-links /tmp/wheels kubernetes \
 && rm -rf /tmp/wheels
LABEL io.minik8s.image=minik8s/python-client
CMD ["python3"]
DOCKERFILE
  BUILT[minik8s/python-client:latest]=1
  echo "images: built minik8s/python-client (kubernetes $version)"
}

NODE_IMAGES=(minik8s/pause:latest minik8s/busybox:latest minik8s/nginx:latest nginx:latest)

# The tarball every node container loads into its dockerd; rewritten when an image changed.
build_node-images() {
  local tarball=$CACHE/node-images.tar ids
  ids=$("$DOCKER" image inspect -f '{{.Id}}' "${NODE_IMAGES[@]}" | sha256sum | cut -c1-16)
  if [[ $FORCE -eq 0 && -s $tarball && $(cat "$tarball.id" 2>/dev/null) == "$ids" ]]; then
    echo "images: $tarball is up to date"
    return
  fi
  mkdir -p "$CACHE"
  # `docker-compose up` before this target makes Docker create the bind mount's source as an
  # empty directory.
  [[ -d $tarball ]] && rmdir "$tarball"
  "$DOCKER" save -o "$tarball.tmp" "${NODE_IMAGES[@]}"
  mv "$tarball.tmp" "$tarball"
  echo "$ids" >"$tarball.id"
  echo "images: saved ${NODE_IMAGES[*]} to $tarball"
}

for target in "${targets[@]}"; do
  "build_$target"
done

# A rebuild that moved a tag to a new image left the old one untagged ("dangling"): remove
# those that are ours (by their label; Docker skips any a container uses), quietly, without
# failing the build.
if pruned=$("$DOCKER" image prune -f --filter "label=$OWNER_LABEL" 2>&1); then
  reclaimed=$(awk '/^Total reclaimed space:/ {print $4}' <<<"$pruned")
  [[ -z $reclaimed || $reclaimed == 0B ]] ||
    echo "images: removed our untagged images of earlier builds ($reclaimed)"
else
  echo "images: could not remove our untagged images (docker image prune): $pruned" >&2
fi
