"""Pure parts of issue 22: bootstrap tokens and cluster-info's JWS, the CSR approval rules,
kubelet certificate rotation, the `kubernetes` Service's endpoints from identity Leases, and
HAProxy's configuration and stats."""

from __future__ import annotations

import base64
import datetime
import random
from pathlib import Path
from typing import Any

import pytest

from minik8s import pki
from minik8s.api import bootstraptoken, certificates
from minik8s.apiserver.controlplane import endpoints_plan
from minik8s.cli.launcher import controlplane, loadbalancer
from minik8s.controllers.bootstrap import signer_plan
from minik8s.controllers.certificates import csr_plan
from minik8s.kubelet.certificates import plan

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


# --- bootstrap tokens -------------------------------------------------------------------------


def test_tokens_parse_as_kubeadm_words_them() -> None:
    assert bootstraptoken.parse("abcdef.0123456789abcdef") == ("abcdef", "0123456789abcdef")
    for bad in ("abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abc.0123456789abcdef"):
        with pytest.raises(bootstraptoken.InvalidToken, match="was not of the form"):
            bootstraptoken.parse(bad)
    token_id, secret = bootstraptoken.parse(bootstraptoken.generate())
    assert len(token_id) == 6 and len(secret) == 16


def test_detached_signatures_are_byte_for_byte_kubernetes() -> None:
    """The vectors of k8s.io/cluster-bootstrap/token/jws."""
    content = "Hello from the other side. I must have called a thousand times."
    secret = "my voice is my passcode"
    assert bootstraptoken.detached_signature(content, "joshua", secret) == (
        "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"
    )
    assert bootstraptoken.detached_signature("", "joshua", secret) == (
        "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk"
    )
    signature = bootstraptoken.detached_signature(content, "joshua", secret)
    assert bootstraptoken.signature_is_valid(signature, content, "joshua", secret)
    assert not bootstraptoken.signature_is_valid(signature, content + " ", "joshua", secret)


def test_token_secrets_expire_and_carry_their_usages() -> None:
    secret = bootstraptoken.new_secret("abcdef.0123456789abcdef", 3600, NOW, "for node-2")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert bootstraptoken.token_id_of(secret) == "abcdef"
    assert bootstraptoken.extra_groups(secret) == (bootstraptoken.DEFAULT_NODE_GROUP,)
    assert bootstraptoken.usable_for(secret, "authentication", NOW)
    assert bootstraptoken.usable_for(secret, "signing", NOW)
    later = NOW + datetime.timedelta(hours=1)
    assert bootstraptoken.is_expired(secret, later)
    assert not bootstraptoken.usable_for(secret, "signing", later)
    forever = bootstraptoken.new_secret("abcdef.0123456789abcdef", 0, NOW, usages=("signing",))
    assert bootstraptoken.expiration(forever) is None
    assert not bootstraptoken.usable_for(forever, "authentication", NOW)
    # A Secret whose name does not match its token id is not a token.
    renamed = {**secret, "metadata": {**secret["metadata"], "name": "bootstrap-token-zzzzzz"}}
    assert bootstraptoken.token_id_of(renamed) is None
    with pytest.raises(bootstraptoken.InvalidToken, match="group"):
        bootstraptoken.new_secret("abcdef.0123456789abcdef", 0, NOW, groups=("admins",))


def test_cluster_info_carries_a_signature_per_live_signing_token() -> None:
    info = bootstraptoken.cluster_info("https://192.0.2.1:6443", b"CA PEM")
    info["data"]["jws-kubeconfig-gone00"] = "stale"
    live = bootstraptoken.new_secret("abcdef.0123456789abcdef", 3600, NOW)
    auth_only = bootstraptoken.new_secret(
        "bbbbbb.0123456789abcdef", 3600, NOW, usages=("authentication",)
    )
    expired = bootstraptoken.new_secret("cccccc.0123456789abcdef", 1, NOW)
    data = signer_plan.desired_data(
        info, [live, auth_only, expired], NOW + datetime.timedelta(seconds=5)
    )
    signatures = sorted(k for k in data if k.startswith("jws-kubeconfig-"))
    assert signatures == ["jws-kubeconfig-abcdef"]
    assert bootstraptoken.signature_is_valid(
        data["jws-kubeconfig-abcdef"], data["kubeconfig"], "abcdef", "0123456789abcdef"
    )


# --- certificate signing requests -------------------------------------------------------------


def csr(
    common_name: str,
    organizations: tuple[str, ...],
    signer: str,
    usages: list[str],
    username: str,
    **names: Any,
) -> dict[str, Any]:
    request, _ = pki.new_certificate_request(common_name, organizations, **names)
    return {
        "metadata": {"name": "csr-1"},
        "spec": {
            "request": base64.b64encode(request).decode(),
            "signerName": signer,
            "usages": usages,
            "username": username,
        },
    }


def test_kubelet_client_requests_are_approved_by_the_right_rule() -> None:
    client_usages = ["digital signature", "client auth"]
    node = ("system:node:n1", ("system:nodes",))
    bootstrap = csr(*node, certificates.KUBE_APISERVER_CLIENT_KUBELET, client_usages,
                    "system:bootstrap:abcdef")  # fmt: skip
    approval = csr_plan.approval(bootstrap)
    assert approval is not None and approval.sar_subresource == csr_plan.NODE_CLIENT
    renewal = csr(*node, certificates.KUBE_APISERVER_CLIENT_KUBELET, client_usages,
                  "system:node:n1")  # fmt: skip
    approval = csr_plan.approval(renewal)
    assert approval is not None and approval.sar_subresource == csr_plan.SELF_NODE_CLIENT
    # Not a node's subject: nobody approves it automatically, and the signer refuses it.
    wrong = csr("system:node:n1", ("devs",), certificates.KUBE_APISERVER_CLIENT_KUBELET,
                client_usages, "system:bootstrap:abcdef")  # fmt: skip
    assert csr_plan.approval(wrong) is None
    assert csr_plan.signing_problem(wrong, csr_plan.parse(wrong))
    assert csr_plan.signing_problem(renewal, csr_plan.parse(renewal)) is None


def test_serving_requests_must_name_only_the_node() -> None:
    serving = csr("system:node:n1", ("system:nodes",), certificates.KUBELET_SERVING,
                  ["digital signature", "server auth"], "system:node:n1",
                  dns_names=("n1",), ip_addresses=("192.0.2.7",))  # fmt: skip
    approval = csr_plan.approval(serving)
    assert approval is not None and approval.node == "n1" and not approval.sar_subresource
    request = csr_plan.parse(serving)
    assert request is not None
    node = {"metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.7"}]}}  # fmt: skip
    assert csr_plan.names_are_the_nodes(request, node)
    other = {"metadata": {"name": "n1"},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.8"}]}}  # fmt: skip
    assert not csr_plan.names_are_the_nodes(request, other)
    # Another node's serving certificate is never auto-approved.
    theirs = {**serving, "spec": {**serving["spec"], "username": "system:node:n2"}}
    assert csr_plan.approval(theirs) is None


def test_lifetime_and_signing_state() -> None:
    request = csr("jane", (), certificates.KUBE_APISERVER_CLIENT, ["client auth"], "admin")
    assert csr_plan.lifetime(request, 3600.0) == 3600.0
    request["spec"]["expirationSeconds"] = 900
    assert csr_plan.lifetime(request, 3600.0) == 900.0
    request["spec"]["expirationSeconds"] = 60  # below the minimum: the signer's own
    assert csr_plan.lifetime(request, 3600.0) == 3600.0
    assert not csr_plan.wants_signing(request)
    request["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    assert csr_plan.wants_signing(request)
    request["status"]["certificate"] = "issued"
    assert not csr_plan.wants_signing(request)


def test_rotation_happens_at_70_to_90_percent_of_the_life(tmp_path: Path) -> None:
    rng = random.Random(7)
    start, end = NOW, NOW + datetime.timedelta(hours=10)
    for _ in range(50):
        deadline = plan.rotation_deadline(start, end, rng)
        assert (
            start + datetime.timedelta(hours=7) <= deadline <= start + datetime.timedelta(hours=9)
        )
    assert plan.signer(plan.CLIENT) == certificates.KUBE_APISERVER_CLIENT_KUBELET
    assert plan.signer(plan.SERVING) == certificates.KUBELET_SERVING
    assert plan.subject("n1") == ("system:node:n1", ("system:nodes",))
    assert plan.current_file(tmp_path, plan.CLIENT).name == "kubelet-client-current.pem"


# --- the `kubernetes` Service's endpoints --------------------------------------------------------


def lease(endpoint: str, renewed: datetime.datetime, duration: int = 15) -> dict[str, Any]:
    name = endpoints_plan.lease_name("host", int(endpoint.rsplit(":", 1)[1]))
    return endpoints_plan.identity_lease(
        name, endpoints_plan.holder_identity(name), "host", endpoint, duration, renewed
    )


def test_identity_leases_are_named_as_kubernetes_does() -> None:
    name = endpoints_plan.lease_name("host", 6443)
    assert name.startswith("apiserver-") and name == endpoints_plan.lease_name("host", 6443)
    assert name != endpoints_plan.lease_name("host", 6444)
    made = lease("192.0.2.1:6443", NOW)
    assert made["metadata"]["labels"]["apiserver.kubernetes.io/identity"] == "kube-apiserver"
    assert made["spec"]["holderIdentity"].startswith(f"kube-{made['metadata']['name']}_")


def test_live_leases_are_the_endpoints_and_long_dead_ones_are_deleted() -> None:
    fresh = lease("192.0.2.1:6443", NOW)
    other_port = lease("192.0.2.1:6444", NOW - datetime.timedelta(seconds=10))
    dead = lease("192.0.2.2:6443", NOW - datetime.timedelta(seconds=20))
    long_dead = lease("192.0.2.3:6443", NOW - datetime.timedelta(seconds=31))
    loopback = lease("127.0.0.1:6445", NOW)
    leases = [fresh, other_port, dead, long_dead, loopback]
    live = endpoints_plan.live_endpoints(leases, NOW)
    assert live == [("192.0.2.1", 6443), ("192.0.2.1", 6444)]
    assert endpoints_plan.expired(leases, NOW) == [long_dead]
    assert endpoints_plan.subsets(live) == [
        {"addresses": [{"ip": "192.0.2.1"}],
         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
        {"addresses": [{"ip": "192.0.2.1"}],
         "ports": [{"name": "https", "port": 6444, "protocol": "TCP"}]},
    ]  # fmt: skip
    assert endpoints_plan.subsets([]) == []


# --- HAProxy -----------------------------------------------------------------------------------


def test_haproxy_configuration_checks_readyz_over_tls(tmp_path: Path) -> None:
    text = loadbalancer.render(
        loadbalancer.Settings(
            bind=("127.0.0.1", 6443),
            servers=[("apiserver-1", "127.0.0.1", 7001), ("apiserver-2", "127.0.0.1", 7002)],
            ca_file=tmp_path / "ca.crt",
            stats_socket=tmp_path / "haproxy.sock",
            extra_binds=[("192.0.2.1", 6443)],
        )
    )
    assert "mode tcp" in text and "bind 127.0.0.1:6443" in text and "bind 192.0.2.1:6443" in text
    assert "http-check send meth GET uri /readyz" in text
    assert (
        f"server apiserver-2 127.0.0.1:7002 check check-ssl verify required "
        f"ca-file {tmp_path / 'ca.crt'}" in text
    )
    assert text.count("on-marked-down shutdown-sessions") == 2
    assert f"stats socket {tmp_path / 'haproxy.sock'} mode 600" in text


def test_haproxy_stats_are_read_per_server() -> None:
    text = (
        "# pxname,svname,qcur,qmax,scur,smax,status,check_status\n"
        "kube-apiserver,FRONTEND,,,3,5,OPEN,\n"
        "kube-apiservers,apiserver-1,0,0,2,4,UP,L7OK\n"
        "kube-apiservers,apiserver-2,0,0,0,1,DOWN,L4CON\n"
        "kube-apiservers,BACKEND,0,0,2,5,UP,\n"
    )
    assert loadbalancer.parse_stats(text) == [
        loadbalancer.ServerState("apiserver-1", "UP", 2, "L7OK"),
        loadbalancer.ServerState("apiserver-2", "DOWN", 0, "L4CON"),
    ]


# --- which process campaigns as which identity -------------------------------------------------


def test_a_restarted_replica_is_not_taken_for_the_one_it_replaced() -> None:
    """`minik8s up` appends each start to the log: until the new process logs its campaign, the
    killed one's identity (which will never lead again) is not the replica's."""
    first = "=== 2026-12-07 05:00:00 minik8s up: python -m minik8s.scheduler.server\n"
    first += "I campaigning for lease kube-system/minik8s-scheduler as host_old\n"
    restarted = first + "=== 2026-12-07 05:01:00 minik8s up: python -m minik8s.scheduler.server\n"
    assert controlplane.campaign_identity(first) == "host_old"
    assert controlplane.campaign_identity(restarted) == ""
    campaigning = restarted + "I campaigning for lease kube-system/minik8s-scheduler as host_new\n"
    assert controlplane.campaign_identity(campaigning) == "host_new"
    assert controlplane.campaign_identity("no marker: campaigning for lease a/b as x\n") == "x"
