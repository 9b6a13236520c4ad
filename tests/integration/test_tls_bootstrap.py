"""Nodes join with a bootstrap token, as with kubeadm: real apiserver (Node,RBAC, client
certificates, bootstrap token authentication), real controller-manager (csrapproving,
csrsigning, bootstrapsigner, tokencleaner) and `minik8s token` / `minik8s join` as a user runs
them; the joined kubelet is a hollow one (`--runtime fake`, no Docker).

Certificates are signed for 15 s (`--cluster-signing-duration`), so the joined kubelet renews
its client and serving certificates (at 70-90% of their life) while the test watches.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from minik8s import pki
from minik8s.api import bootstraprbac, bootstraptoken
from tests.integration.test_authz import Cluster
from tests.support.controllers import ControllerManager
from tests.support.processes import Apiserver, Etcd, free_port, temp_dir
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

MINIK8S = [sys.executable, "-m", "minik8s.cli.launcher.app"]
NODE = "joined-1"
ONE_SHOT = Path(__file__).resolve().parents[2] / "deploy" / "compose" / "bootstraptoken.py"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    work = temp_dir("minik8s-bootstrap-")
    etcd = Etcd(work / "etcd")
    etcd.start()
    certs = pki.ensure_serving_certificate(work / "apiserver" / "pki")
    server = Apiserver(
        etcd.url,
        work / "apiserver",
        tls=True,
        extra_args=[
            f"--client-ca-file={certs.ca_cert}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth",
        ],
    )
    manager: ControllerManager | None = None
    try:
        server.start()
        cluster = Cluster(server, work / "apiserver", "")
        cluster.kubeconfig("admin", "kubernetes-admin", ("system:masters",))
        cluster.kubeconfig("jane", "jane")
        cluster.kubeconfig("nobody", None)
        manager = ControllerManager(
            cluster.kubeconfig("cm", "system:kube-controller-manager"),
            work / "controller-manager.log",
            extra_args=[
                "--leader-elect=false",
                "--controllers=csrapproving,csrsigning,bootstrapsigner,tokencleaner",
                f"--cluster-signing-cert-file={certs.ca_cert}",
                f"--cluster-signing-key-file={certs.ca_cert.parent / 'ca.key'}",
                "--cluster-signing-duration=15s",
            ],
        )
        manager.start()
        yield cluster
    finally:
        if manager is not None:
            manager.stop()
        server.stop()
        etcd.stop()
        shutil.rmtree(work, ignore_errors=True)


def minik8s(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MINIK8S, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def anonymous_get(cluster: Cluster, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify = ssl.create_default_context(cafile=str(cluster.ca))
    return httpx.get(cluster.server.url + path, verify=verify, headers=headers, timeout=10)


def served_certificate(host: str, port: int) -> x509.Certificate:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=5) as sock:
        with context.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def csrs(cluster: Cluster) -> list[dict]:
    out = cluster.kubectl("admin", "get", "csr", "-o", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["items"]


def test_the_compose_token_one_shot_may_write_its_token_and_nothing_else(
    cluster: Cluster, tmp_path: Path
) -> None:
    """deploy/compose/bootstraptoken.py as system:minik8s:bootstrap-token (the apiserver's
    bootstrap policy binds it, and holds kubeadm's bindings for joining): it creates the
    token's Secret and cluster-info, and is denied anything else."""
    for name in ("kubeadm:kubelet-bootstrap", "kubeadm:node-autoapprove-bootstrap"):
        found = cluster.kubectl("admin", "get", "clusterrolebinding", name)
        assert found.returncode == 0, f"the bootstrap policy lacks {name}: {found.stderr}"
    creds = tmp_path / "bootstrap-creds"
    creds.mkdir()
    writer = cluster.kubeconfig("token-writer", bootstraprbac.TOKEN_WRITER)
    shutil.copy(writer, creds / "kubeconfig")
    token = bootstraptoken.generate()
    (creds / "token").write_text(token + "\n")
    token_id = token.split(".")[0]

    def one_shot() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MINIK8S_BOOTSTRAP_CREDS": str(creds)}
        return subprocess.run(
            [sys.executable, str(ONE_SHOT)], env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    first = one_shot()
    assert first.returncode == 0 and f"{token_id} created" in first.stderr, first.stderr
    again = one_shot()
    assert again.returncode == 0 and f"{token_id} exists" in again.stderr, again.stderr
    secret = f"bootstrap-token-{token_id}"
    assert cluster.kubectl("admin", "get", "secret", "-n", "kube-system", secret).returncode == 0
    info = cluster.kubectl("admin", "get", "configmap", "-n", "kube-public", "cluster-info")
    assert info.returncode == 0, info.stderr

    denied = [
        ("get", "secret", "-n", "kube-system", secret),
        ("get", "secrets", "-n", "kube-system"),
        ("create", "secret", "generic", "x", "-n", "default", "--from-literal=a=b"),
        ("create", "configmap", "x", "-n", "kube-system"),
        ("delete", "configmap", "cluster-info", "-n", "kube-public"),
        ("run", "x", "--image=busybox", "-n", "default"),
        ("create", "clusterrolebinding", "x", "--clusterrole=cluster-admin", "--user=me"),
        ("create", "rolebinding", "x", "-n", "kube-system", "--clusterrole=admin", "--user=me"),
    ]
    for args in denied:
        result = cluster.kubectl("token-writer", *args)
        denial = result.returncode != 0 and "forbidden" in result.stderr.lower()
        assert denial, (args, result.stderr)


def test_a_node_joins_with_a_token_and_renews_its_certificates(
    cluster: Cluster, tmp_path: Path
) -> None:
    admin = str(cluster.work / "admin.conf")
    created = minik8s("token", "create", "--ttl", "1h", "--print-join-command",
                      "--kubeconfig", admin)  # fmt: skip
    assert created.returncode == 0, created.stderr
    line = created.stdout.strip()
    match = re.fullmatch(
        r"minik8s join (\S+) --token (\S+) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})",
        line,
    )
    assert match, line
    endpoint, token, ca_hash = match.groups()
    assert ca_hash == pki.ca_cert_hash(cluster.ca.read_bytes())
    token_id = token.split(".")[0]

    # cluster-info is public and signed with the token.
    def signed() -> dict | None:
        r = anonymous_get(cluster, "/api/v1/namespaces/kube-public/configmaps/cluster-info")
        data = r.json().get("data", {}) if r.status_code == 200 else {}
        return data if f"jws-kubeconfig-{token_id}" in data else None

    data = wait_for(signed, "the bootstrap signer to sign cluster-info with the new token")
    assert bootstraptoken.signature_is_valid(
        data[f"jws-kubeconfig-{token_id}"], data["kubeconfig"], *bootstraptoken.parse(token)
    )
    # Anonymous users read cluster-info and nothing else.
    assert anonymous_get(cluster, "/api/v1/namespaces/kube-public/configmaps").status_code == 403

    # The token is system:bootstrap:<id>: it may make CSRs, not read pods; a wrong secret is 401.
    whoami = cluster.kubectl("nobody", "auth", "whoami", "--token", token, "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert info["username"] == f"system:bootstrap:{token_id}"
    assert "system:bootstrappers:kubeadm:default-node-token" in info["groups"]
    assert anonymous_get(cluster, "/api/v1/pods", token).status_code == 403
    assert anonymous_get(cluster, "/api/v1/pods", f"{token_id}.0000000000000000").status_code == 401

    # A wrong CA pin is refused before anything is written.
    home = tmp_path / "node"
    port = free_port()
    join_args = ["join", endpoint, "--token", token, "--node-name", NODE, "--node-ip",
                 "127.0.0.1", "--runtime", "fake", "--kubelet-port", str(port), "--no-proxy",
                 "--pod-network", "none",
                 "--home", str(home)]  # fmt: skip
    wrong = minik8s(*join_args, "--discovery-token-ca-cert-hash", "sha256:" + "0" * 64)
    assert wrong.returncode == 1 and "none of the public keys" in wrong.stderr, wrong.stderr
    assert not (home / "bootstrap-kubelet.conf").exists()

    try:
        joined = minik8s(*join_args, "--discovery-token-ca-cert-hash", ca_hash)
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert f"node {NODE} is Ready" in joined.stdout

        # The kubelet asked for its certificate with the token; it was approved and issued.
        first = [
            c for c in csrs(cluster) if c["spec"]["username"] == f"system:bootstrap:{token_id}"
        ]
        assert (
            first
            and first[0]["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
        )
        assert first[0]["status"]["conditions"][0]["reason"] == "AutoApproved"
        table = cluster.kubectl("admin", "get", "csr")
        assert "REQUESTOR" in table.stdout and "Approved,Issued" in table.stdout, table.stdout
        current = home / "pki" / "kubelet-client-current.pem"
        client_cert = x509.load_pem_x509_certificate(current.read_bytes())
        assert client_cert.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"
        assert oct((home / "bootstrap-kubelet.conf").stat().st_mode & 0o777) == "0o600"

        # Its serving certificate comes from the cluster CA too (the placeholder was self-signed).
        ca = x509.load_pem_x509_certificate(cluster.ca.read_bytes())
        wait_for(
            lambda: served_certificate("127.0.0.1", port).issuer == ca.subject,
            "the kubelet to serve a certificate issued by the cluster CA",
        )

        # Both are renewed before they expire (self-approved through `selfnodeclient`).
        def renewed() -> bool:
            mine = [c for c in csrs(cluster) if c["spec"]["username"] == f"system:node:{NODE}"]
            signers = {
                c["spec"]["signerName"] for c in mine if c.get("status", {}).get("certificate")
            }
            return {
                "kubernetes.io/kube-apiserver-client-kubelet",
                "kubernetes.io/kubelet-serving",
            } <= signers and (
                x509.load_pem_x509_certificate(current.read_bytes()).serial_number
                != client_cert.serial_number
            )

        wait_for(renewed, "the kubelet to renew its client certificate", timeout=30)
        # Still a working node with the new certificate: its status keeps being written.
        node = cluster.kubectl("admin", "get", "node", NODE, "-o", "json")
        assert node.returncode == 0, node.stderr
        log = (home / "logs" / f"kubelet-{NODE}.log").read_text()
        assert "client certificate of joined-1 rotated" in log, log[-2000:]
    finally:
        minik8s("down", "--home", str(home))

    # Deleting the token: it no longer authenticates, and cluster-info loses its signature.
    deleted = minik8s("token", "delete", token_id, "--kubeconfig", admin)
    assert deleted.returncode == 0, deleted.stderr
    wait_for(
        lambda: anonymous_get(cluster, "/api/v1/namespaces/default/pods", token).status_code == 401,
        "the deleted token to stop authenticating",
    )
    wait_for(lambda: signed() is None, "cluster-info to drop the deleted token's signature")


def test_certificate_requests_follow_kubernetes_rules(cluster: Cluster) -> None:
    """A request nobody auto-approves waits for a person with `approve` on its signer; the
    system:masters group cannot be asked for; an expired token is deleted."""
    request, _ = pki.new_certificate_request("jane", ("devs",))
    csr = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "jane"},
        "spec": {
            "request": base64.b64encode(request).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 3600,
        },
    }
    made = cluster.kubectl("jane", "create", "-f", "-", stdin=json.dumps(csr))
    assert made.returncode != 0 and "forbidden" in made.stderr.lower()  # jane may not create
    assert cluster.kubectl("admin", "create", "-f", "-", stdin=json.dumps(csr)).returncode == 0
    row = cluster.kubectl("admin", "get", "csr", "jane", "--no-headers").stdout
    assert "kubernetes.io/kube-apiserver-client" in row and "Pending" in row and "60m" in row, row
    assert cluster.kubectl("admin", "get", "csr", "jane", "-o", "json").returncode == 0

    approve = cluster.kubectl("jane", "certificate", "approve", "jane")
    assert approve.returncode != 0
    approve = cluster.kubectl("admin", "certificate", "approve", "jane")
    assert approve.returncode == 0, approve.stderr

    def issued() -> bool:
        obj = json.loads(cluster.kubectl("admin", "get", "csr", "jane", "-o", "json").stdout)
        return bool(obj.get("status", {}).get("certificate"))

    wait_for(issued, "csrsigning to issue jane's approved certificate")
    obj = json.loads(cluster.kubectl("admin", "get", "csr", "jane", "-o", "json").stdout)
    cert = x509.load_pem_x509_certificate(base64.b64decode(obj["status"]["certificate"]))
    assert cert.subject.rfc4514_string() == "CN=jane,O=devs"
    assert obj["spec"]["username"] == "kubernetes-admin"  # set by the apiserver, not the client
    # Conditions cannot be removed, and the certificate cannot be changed.
    obj["status"]["conditions"] = []
    replaced = cluster.kubectl("admin", "replace", "--subresource=approval", "-f", "-",
                               stdin=json.dumps(obj))  # fmt: skip
    assert replaced.returncode != 0 and "may not remove a condition" in replaced.stderr

    masters, _ = pki.new_certificate_request("mallory", ("system:masters",))
    csr["metadata"]["name"] = "mallory"
    csr["spec"]["request"] = base64.b64encode(masters).decode()
    refused = cluster.kubectl("admin", "create", "-f", "-", stdin=json.dumps(csr))
    assert refused.returncode != 0 and "system:masters group is not allowed" in refused.stderr

    bad = dict(csr, metadata={"name": "bad"}, spec={**csr["spec"], "expirationSeconds": 60,
                                                    "request": "bm90IGEgY3Ny"})  # fmt: skip
    invalid = cluster.kubectl("admin", "create", "-f", "-", stdin=json.dumps(bad))
    assert invalid.returncode != 0
    assert "PEM block type must be CERTIFICATE REQUEST" in invalid.stderr
    assert "may not specify a duration less than 600 seconds" in invalid.stderr

    # Tokens are listed without their secret.
    admin = str(cluster.work / "admin.conf")
    kept = minik8s("token", "create", "--ttl", "1h", "--description", "listed",
                   "--kubeconfig", admin)  # fmt: skip
    assert kept.returncode == 0, kept.stderr
    kept_id, kept_secret = kept.stdout.strip().split(".")
    listed = minik8s("token", "list", "--kubeconfig", admin)
    assert f"{kept_id}.<secret>" in listed.stdout and "listed" in listed.stdout, listed.stdout
    assert kept_secret not in listed.stdout
    assert minik8s("token", "delete", kept_id, "--kubeconfig", admin).returncode == 0

    # The token cleaner deletes a token once it expires.
    short = minik8s("token", "create", "--ttl", "2s", "--kubeconfig", admin)
    assert short.returncode == 0, short.stderr
    token_id = short.stdout.strip().split(".")[0]

    def gone() -> bool:
        result = cluster.kubectl("admin", "get", "secret", "-n", "kube-system",
                                 f"bootstrap-token-{token_id}")  # fmt: skip
        return result.returncode != 0 and "NotFound" in result.stderr

    wait_for(gone, "the token cleaner to delete the expired token", timeout=30)
