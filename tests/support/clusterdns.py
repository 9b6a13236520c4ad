"""Issue 16's cluster DNS checks from pods on two nodes, shared by every e2e cluster
(`minik8s up` in test_seed_flow, docker-compose in test_compose).

Two namespaces: `dns-e2e` holds an nginx pod `web-0` behind a Service `web` and a headless
Service `web-hl` (the pod's hostname and subdomain), `dns-other` an ExternalName Service
`other`; a busybox pod on node-1 with the default `ClusterFirst`, one on node-2 with
`dnsPolicy: None` and its own `dnsConfig`. Each runs DNS_SCRIPT; the checks read its sections.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.waiting import wait_for

DNS_MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: dns-e2e}
---
apiVersion: v1
kind: Namespace
metadata: {name: dns-other}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: dns-e2e, labels: {app: web}}
spec:
  hostname: web-0
  subdomain: web-hl
  containers: [{name: main, image: nginx:latest, imagePullPolicy: Never}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: dns-e2e}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-hl, namespace: dns-e2e}
spec: {clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: dns-other}
spec: {type: ExternalName, externalName: web.dns-e2e.svc.cluster.local}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: dns-e2e}
spec:
  nodeName: node-1
  containers: [{name: main, image: minik8s/busybox:latest, imagePullPolicy: Never,
                command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client-2, namespace: dns-e2e}
spec:
  nodeName: node-2
  dnsPolicy: None
  dnsConfig:
    nameservers: [10.96.0.10]
    searches: [dns-e2e.svc.cluster.local, svc.cluster.local, cluster.local]
    options: [{name: ndots, value: "2"}]
  containers: [{name: main, image: minik8s/busybox:latest, imagePullPolicy: Never,
                command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]}]
"""

# Each check prints a marker, then what the test looks at. $CLOSED is a URL the pod must not
# reach (the caller's: the apiserver's host port, another node's kubelet).
DNS_SCRIPT = r"""
exec 2>&1
echo; echo "== resolv"; cat /etc/resolv.conf
echo; echo "== nslookup web"; nslookup web
echo; echo "== wget web"; wget -T 5 -qO- http://web/
echo; echo "== wget web.ns"; wget -T 5 -qO- http://web.dns-e2e/
echo; echo "== wget fqdn"; wget -T 5 -qO- http://web.dns-e2e.svc.cluster.local/
echo; echo "== wget other"; wget -T 5 -qO- http://other.dns-other/
echo; echo "== headless"; nslookup web-hl.dns-e2e.svc.cluster.local
echo; echo "== hostname"; nslookup web-0.web-hl.dns-e2e.svc.cluster.local
echo; echo "== srv"; nslookup -type=srv _http._tcp.web.dns-e2e.svc.cluster.local
echo; echo "== nxdomain"; nslookup nothere.dns-e2e.svc.cluster.local
echo; echo "== env"; env | grep -E "^(KUBERNETES|WEB)_SERVICE_(HOST|PORT)="
echo; echo "== anonymous"
wget -T 5 -S -O /dev/null --no-check-certificate https://kubernetes.default.svc/api
echo; echo "== bad token"
wget -T 5 -S -O /dev/null --no-check-certificate --header "Authorization: Bearer nope" \
  https://kubernetes.default.svc/api
echo; echo "== token"
SA=/var/run/secrets/kubernetes.io/serviceaccount
wget -T 5 -qO- --ca-certificate=$SA/ca.crt --header "Authorization: Bearer $(cat $SA/token)" \
  https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api
echo; echo "== version"; wget -T 5 -qO- --no-check-certificate https://$KUBERNETES_SERVICE_HOST/version
echo; echo "== closed"
wget -T 3 -O- --no-check-certificate "$CLOSED"; echo "rc=$?"
echo; echo "== end"
"""


def sections(output: str) -> dict[str, str]:
    """DNS_SCRIPT's output by its `== name` markers."""
    found: dict[str, str] = {}
    name = ""
    for line in output.splitlines():
        if line.startswith("== "):
            name = line[3:]
            found[name] = ""
        elif name:
            found[name] += line + "\n"
    return found


def kubectl(
    kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed")
    return subprocess.run(
        [found, "--kubeconfig", str(kubeconfig), *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def check_pods_find_services_by_name(kubeconfig: Path, closed: Mapping[str, str]) -> None:
    """Apply DNS_MANIFEST, run DNS_SCRIPT in client-1 (node-1) and client-2 (node-2), assert
    issue 16's checks, delete both namespaces. `closed` maps each client to a URL its pod must
    find refused (the pod firewall)."""
    applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=DNS_MANIFEST)
    assert applied.returncode == 0, applied.stderr
    try:
        ready = kubectl(
            kubeconfig, "wait", "-n", "dns-e2e", "--for=condition=Ready", "pod/web-0",
            "pod/client-1", "pod/client-2", "--timeout=90s",
        )  # fmt: skip
        assert ready.returncode == 0, ready.stderr
        jsonpath = "jsonpath={.spec.clusterIP}"
        web_ip = kubectl(kubeconfig, "get", "svc", "-n", "dns-e2e", "web", "-o", jsonpath).stdout
        pod_ip = kubectl(kubeconfig, "get", "pod", "-n", "dns-e2e", "web-0", "-o",
                         "jsonpath={.status.podIP}").stdout  # fmt: skip
        # Ready is not yet reachable: the endpoints controller, every kube-proxy and the DNS
        # server each catch up on their own watch (Kubernetes' DNS e2e polls for its records).
        for service in ("web", "web-hl"):
            listed = kubectl(
                kubeconfig, "wait", "-n", "dns-e2e", f"endpoints/{service}", "--timeout=60s",
                f"--for=jsonpath={{.subsets[0].addresses[0].ip}}={pod_ip}",
            )  # fmt: skip
            assert listed.returncode == 0, (service, listed.stderr)
        outputs = {
            client: wait_for(
                lambda client=client: _client_sees_the_cluster(
                    kubeconfig, client, closed[client], web_ip, pod_ip
                ),
                f"{client}'s DNS, Service and firewall checks to pass",
                timeout=60,
                interval=2,
            )
            for client in ("client-1", "client-2")
        }
        first, second = outputs["client-1"], outputs["client-2"]
        assert first["resolv"].strip() == (
            "search dns-e2e.svc.cluster.local svc.cluster.local cluster.local\n"
            "nameserver 10.96.0.10\noptions ndots:5"
        )
        assert second["resolv"].strip() == (
            "search dns-e2e.svc.cluster.local svc.cluster.local cluster.local\n"
            "nameserver 10.96.0.10\noptions ndots:2"
        )
        assert f"WEB_SERVICE_HOST={web_ip}" in first["env"]
        assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in first["env"]
        assert "KUBERNETES_SERVICE_PORT=443" in first["env"]
        hosts = kubectl(kubeconfig, "exec", "-n", "dns-e2e", "web-0", "--", "cat", "/etc/hosts")
        assert f"{pod_ip}\tweb-0.web-hl.dns-e2e.svc.cluster.local\tweb-0" in hosts.stdout
    finally:
        kubectl(kubeconfig, "delete", "namespace", "dns-e2e", "dns-other", "--timeout=60s")


def _client_sees_the_cluster(
    kubeconfig: Path, client: str, closed: str, web_ip: str, pod_ip: str
) -> dict[str, str]:
    """Run DNS_SCRIPT in `client`, assert issue 16's checks on its output, return its sections."""
    script = f"CLOSED='{closed}'\n{DNS_SCRIPT}"
    run = kubectl(kubeconfig, "exec", "-n", "dns-e2e", client, "--", "sh", "-c", script)
    got = sections(run.stdout)
    assert "end" in got, run.stdout + run.stderr
    assert f"Address: {web_ip}" in got["nslookup web"], got
    for fetched in ("wget web", "wget web.ns", "wget fqdn", "wget other"):
        assert "Welcome to nginx" in got[fetched], (client, fetched, got[fetched])
    assert f"Address: {pod_ip}" in got["headless"], got["headless"]
    assert f"Address: {pod_ip}" in got["hostname"], got["hostname"]
    assert "0 100 80 web.dns-e2e.svc.cluster.local" in got["srv"], got["srv"]
    assert "NXDOMAIN" in got["nxdomain"], got["nxdomain"]
    # as Kubernetes: anonymous is authenticated, then forbidden; a bad token is not;
    # the pod's ServiceAccount token and CA (what load_incluster_config reads) work
    assert "403 Forbidden" in got["anonymous"], got["anonymous"]
    assert "401 Unauthorized" in got["bad token"], got["bad token"]
    assert '"kind":"APIVersions"' in got["token"].replace(" ", ""), got["token"]
    assert '"gitVersion"' in got["version"], got["version"]
    refused = got["closed"]
    assert "Connection refused" in refused and "rc=4" in refused, (client, refused)
    return got
