#!/usr/bin/env bash
# The entrypoint of a compose worker node (image minik8s/node), kind-style: its own dockerd,
# the preloaded images, `minik8s join` (a bootstrap token: discovery pinned by the CA's hash,
# kube-proxy's certificate by CSR), then the kubelet (TLS bootstrapping: it requests its own
# client and serving certificates, and rotates them), kube-proxy and the host-gw route agent,
# each restarted when it exits. On SIGTERM (`docker-compose stop`) it stops them, removes the
# node's pod containers and stops dockerd.
#   NODE_NAME     the Node's name (default: from the container's name, e.g. worker-3)
#   CLUSTER_CIDR  the pod network of the whole cluster (default 10.245.0.0/16)
#   SERVICE_CIDR  the Service ClusterIP range (default 10.96.0.0/16)
#   JOIN          what joining needs (default /etc/minik8s): `token`, `ca-cert-hash`
#   SERVER        the control plane (default https://apiserver:6443; the HA layout's HAProxy)
#   NODE_HOME     the node's own files, from join and the kubelet (default /var/lib/minik8s-node)
#   PRELOAD       `docker save` tarball loaded into this node's dockerd (default /preload/images.tar)
set -uo pipefail

CLUSTER_CIDR=${CLUSTER_CIDR:-10.245.0.0/16}
SERVICE_CIDR=${SERVICE_CIDR:-10.96.0.0/16}
JOIN=${JOIN:-/etc/minik8s}
SERVER=${SERVER:-https://apiserver:6443}
NODE_HOME=${NODE_HOME:-/var/lib/minik8s-node}
PRELOAD=${PRELOAD:-/preload/images.tar}
HERE=$(dirname "$(readlink -f "$0")")
NODE_IP=$(ip -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]; exit}')
# The nodes' network (etcd, the control plane, the other nodes' kubelets): closed to pods but
# through a cluster Service (kube-proxy's MINIK8S-POD-FIREWALL).
NODE_NETWORK=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_interface(sys.argv[1]).network)' \
  "$(ip -4 -o addr show dev eth0 | awk '{print $4; exit}')")
# A scaled service's containers (`--scale worker=3`) have no NODE_NAME: their name in Docker's
# DNS (`<project>_worker_3.<network>`, or `<project>-worker-3` with compose v2) gives `worker-3`
# (SERVICE_NAME=worker).
[[ -n ${NODE_NAME:-} ]] || NODE_NAME=$(python3 "$HERE/nodename.py" "$NODE_IP" "${SERVICE_NAME:-worker}")
log() { echo "node-entrypoint[$NODE_NAME]: $*"; }
[[ -s $JOIN/token && -s $JOIN/ca-cert-hash ]] || { log "no bootstrap token in $JOIN"; exit 1; }

pids=()
dockerd_pid=""

shutdown() {
  log "stopping"
  ((${#pids[@]})) && kill -TERM "${pids[@]}" 2>/dev/null
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  local containers
  containers=$(docker ps -aq 2>/dev/null)
  [[ -n $containers ]] && docker rm -f $containers >/dev/null 2>&1
  [[ -n $dockerd_pid ]] && kill -TERM "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
  log "stopped"
  exit 0
}
trap shutdown TERM INT

# supervise NAME CMD...: run CMD in the background, restarting it 2 s after it exits.
supervise() {
  local name=$1
  shift
  (
    child=""
    trap '[[ -n $child ]] && kill -TERM $child 2>/dev/null; wait $child 2>/dev/null; exit 0' TERM
    while :; do
      "$@" &
      child=$!
      wait "$child"
      log "$name exited with $?; restarting in 2s"
      sleep 2 &
      wait $!
    done
  ) &
  pids+=($!)
}

log "node ip $NODE_IP; starting dockerd"
# No docker0: the kubelet creates the pods' bridge (Docker network `minik8s`) on this node's
# podCIDR.
dockerd --bridge=none --iptables=true >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
for ((i = 0; i < 240; i++)); do
  docker info >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || { log "dockerd died:"; tail -n 30 /var/log/dockerd.log; exit 1; }
  sleep 0.25
done
docker info >/dev/null 2>&1 || { log "dockerd did not start"; tail -n 30 /var/log/dockerd.log; exit 1; }

if [[ -s $PRELOAD ]]; then
  started=$SECONDS
  docker load -q -i "$PRELOAD" >/dev/null || log "loading $PRELOAD failed"
  log "loaded $PRELOAD in $((SECONDS - started))s"
else
  log "no image tarball at $PRELOAD: pods need images this node cannot pull"
fi

# Pods on other nodes must reach this node's pods: Docker's FORWARD rules only let published
# ports in; DOCKER-USER is the chain Docker leaves to its users (and puts first in FORWARD).
# What pods send elsewhere goes on to kube-proxy's MINIK8S-POD-FIREWALL, which closes this
# node and the nodes' network to them (an ACCEPT here for it would bypass that).
iptables -I DOCKER-USER 1 -d "$CLUSTER_CIDR" -j ACCEPT

# Pod-to-pod traffic across nodes keeps its source IP: Docker masquerades whatever leaves the
# pods' bridge, with a rule it inserts first in POSTROUTING when the kubelet creates the
# network; once it exists, a RETURN for cluster-internal traffic goes in front of it. (Traffic
# to anything else, e.g. the apiserver, is still masqueraded to the node's IP.)
(
  until docker network inspect minik8s >/dev/null 2>&1; do sleep 1; done
  iptables -t nat -I POSTROUTING 1 -s "$CLUSTER_CIDR" -d "$CLUSTER_CIDR" -j RETURN
  log "pod network ready: cluster traffic is not masqueraded"
) &

# Join: trust the control plane's CA by its hash, write the kubelet's bootstrap kubeconfig and
# get kube-proxy's certificate (once: a restarted container keeps its files and its kubelet's
# rotated certificate). The token goes on join's command line, never into the environment.
if [[ ! -s $NODE_HOME/kubeconfigs/proxy.conf ]]; then
  until minik8s join "$SERVER" --token "$(cat "$JOIN/token")" \
      --discovery-token-ca-cert-hash "$(cat "$JOIN/ca-cert-hash")" --node-name "$NODE_NAME" \
      --node-ip "$NODE_IP" --home "$NODE_HOME" --no-start; do
    log "join failed; retrying in 2s"
    sleep 2
  done
fi
PROXY_CONF=$NODE_HOME/kubeconfigs/proxy.conf

# The host-gw agent (minik8s-hostgw, `minik8s join`'s --pod-network host-gw) reads every
# node's podCIDR: it runs as kube-proxy (system:node-proxier may list nodes; the Node
# authorizer lets a kubelet read only its own Node).
supervise hostgw minik8s-hostgw --kubeconfig "$PROXY_CONF" --node-name "$NODE_NAME"
supervise kubelet minik8s-kubelet --node-name "$NODE_NAME" \
  --bootstrap-kubeconfig "$NODE_HOME/bootstrap-kubelet.conf" \
  --kubeconfig "$NODE_HOME/kubelet.conf" --cert-dir "$NODE_HOME/pki" \
  --rotate-certificates --rotate-server-certificates \
  --runtime docker --node-ip "$NODE_IP" --port 10250 \
  --client-ca-file "$NODE_HOME/pki/ca.crt" --authentication-token-webhook \
  --authorization-mode Webhook --anonymous-auth=false --cloud-provider external \
  --pod-subnet-from-node --node-status-update-frequency "${NODE_STATUS_UPDATE_FREQUENCY:-5}" \
  --image-pull-fallback-to-local=true
# NodePorts on the node's address only: not on its loopback, so no route_localnet either.
supervise proxy minik8s-proxy --kubeconfig "$PROXY_CONF" \
  --node-name "$NODE_NAME" --cluster-cidr "$CLUSTER_CIDR" --service-cluster-ip-range "$SERVICE_CIDR" \
  --forbidden-pod-destinations "$NODE_NETWORK" --nodeport-addresses "$NODE_IP/32"

log "running kubelet, kube-proxy and hostgw"
while :; do
  sleep 3600 &
  wait $!
done
