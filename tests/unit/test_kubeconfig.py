"""Reading kubeconfig files as kubectl does: lookup order, contexts, credentials, errors."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml

from minik8s.client import tls
from minik8s.client.kubeconfig import ClientConfig, ConfigError, load_kubeconfig


def write(path: Path, document: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def kubeconfig(server: str = "http://127.0.0.1:6443", **user: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server}},
            {"name": "other", "cluster": {"server": "https://10.9.9.9:6443/"}},
        ],
        "users": [{"name": "admin", "user": dict(user)}, {"name": "viewer", "user": {}}],
        "contexts": [
            {"name": "local", "context": {"cluster": "local", "user": "admin"}},
            {
                "name": "other",
                "context": {"cluster": "other", "user": "viewer", "namespace": "team-a"},
            },
        ],
        "current-context": "local",
    }


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return home


def test_reads_server_token_and_default_namespace(tmp_path: Path) -> None:
    path = write(tmp_path / "config", kubeconfig(token="s3cret"))
    config = load_kubeconfig(path)
    assert config.server == "http://127.0.0.1:6443"
    assert config.token == "s3cret"
    assert config.namespace == "default"
    assert not config.insecure_skip_tls_verify


def test_a_named_context_picks_its_cluster_user_and_namespace(tmp_path: Path) -> None:
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig(token="t")), context="other")
    assert config.server == "https://10.9.9.9:6443"
    assert config.token is None
    assert config.namespace == "team-a"


def test_kubeconfig_env_first_entry_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "a", kubeconfig("http://first:1"))
    second = write(tmp_path / "b", kubeconfig("http://second:2"))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert load_kubeconfig().server == "http://first:1"


def test_home_lookup_prefers_minik8s_over_kube(isolated_home: Path) -> None:
    write(isolated_home / ".kube" / "config", kubeconfig("http://kube:1"))
    assert load_kubeconfig().server == "http://kube:1"
    write(isolated_home / ".minik8s" / "kubeconfig", kubeconfig("http://minik8s:2"))
    assert load_kubeconfig().server == "http://minik8s:2"


def test_no_file_anywhere_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="no kubeconfig found") as e:
        load_kubeconfig()
    assert "\n" not in str(e.value)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope does not exist"):
        load_kubeconfig(tmp_path / "nope")


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "config", "clusters:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML at line \d") as e:
        load_kubeconfig(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update({"current-context": "missing"}), 'context "missing" not found'),
        (lambda d: d["contexts"][0]["context"].update(cluster="x"), 'cluster "x" of context'),
        (lambda d: d["contexts"][0]["context"].update(user="x"), 'user "x" of context'),
        (lambda d: d["clusters"][0]["cluster"].pop("server"), 'cluster "local" has no server'),
        (lambda d: d.update(clusters="oops"), "clusters must be a list"),
        (lambda d: d.pop("current-context"), "no current-context set"),
    ],
)
def test_unusable_documents_say_why(tmp_path: Path, mutate: object, message: str) -> None:
    document = kubeconfig()
    mutate(document)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(write(tmp_path / "config", document))


def test_a_single_context_is_used_without_current_context(tmp_path: Path) -> None:
    document = kubeconfig()
    document.pop("current-context")
    document["contexts"] = document["contexts"][:1]
    assert load_kubeconfig(write(tmp_path / "config", document)).server == "http://127.0.0.1:6443"


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a mapping"):
        load_kubeconfig(write(tmp_path / "config", "- just\n- a list\n"))


def test_tls_files_resolve_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    document = kubeconfig("https://127.0.0.1:6443", **{"client-certificate": "certs/me.crt"})
    document["users"][0]["user"]["client-key"] = "/abs/me.key"
    document["clusters"][0]["cluster"]["certificate-authority"] = "ca.crt"
    document["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    config = load_kubeconfig(write(tmp_path / "dir" / "config", document))
    assert config.certificate_authority == str(tmp_path / "dir" / "ca.crt")
    assert config.client_certificate == str(tmp_path / "dir" / "certs" / "me.crt")
    assert config.client_key == "/abs/me.key"
    assert config.insecure_skip_tls_verify


def test_inline_base64_data_is_decoded(tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nxyz\n-----END CERTIFICATE-----\n"
    document = kubeconfig(**{"client-key-data": base64.b64encode(b"key").decode()})
    document["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        pem
    ).decode()
    config = load_kubeconfig(write(tmp_path / "config", document))
    assert config.certificate_authority_data == pem
    assert config.client_key_data == b"key"


def test_bad_base64_is_reported(tmp_path: Path) -> None:
    document = kubeconfig()
    document["clusters"][0]["cluster"]["certificate-authority-data"] = "not base64!"
    with pytest.raises(ConfigError, match="certificate-authority-data is not valid base64"):
        load_kubeconfig(write(tmp_path / "config", document))


def test_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig(tokenFile="token")))
    assert config.token == "from-file"


def test_exec_credentials_are_refused_clearly(tmp_path: Path) -> None:
    document = kubeconfig()
    document["users"][0]["user"] = {"exec": {"command": "aws"}}
    with pytest.raises(ConfigError, match='user "admin" uses exec, not supported'):
        load_kubeconfig(write(tmp_path / "config", document))


def test_from_url() -> None:
    config = ClientConfig.from_url("http://127.0.0.1:8080/", token="t")
    assert config.server == "http://127.0.0.1:8080"
    assert config.token == "t"
    assert config.namespace == "default"


def test_plain_config_uses_default_verification() -> None:
    assert tls.tls_context(ClientConfig.from_url("https://127.0.0.1:6443")) is True


def test_insecure_skip_verify_turns_verification_off() -> None:
    context = tls.tls_context(ClientConfig("https://127.0.0.1:6443", insecure_skip_tls_verify=True))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_unloadable_tls_files_are_a_one_line_config_error(tmp_path: Path) -> None:
    missing = ClientConfig("https://x", certificate_authority=str(tmp_path / "ca.crt"))
    with pytest.raises(ConfigError, match=r"cannot load TLS credentials from .*ca\.crt") as e:
        tls.tls_context(missing)
    assert "\n" not in str(e.value)
    garbage = ClientConfig("https://x", certificate_authority_data=b"not a certificate")
    with pytest.raises(ConfigError, match="cannot load TLS credentials"):
        tls.tls_context(garbage)
