"""minikctl's error paths: one line on stderr, exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from minik8s.cli.minikctl.app import app

runner = CliRunner()


@pytest.fixture()
def unreachable(tmp_path: Path) -> Path:
    """A kubeconfig naming a loopback port nothing listens on."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_unknown_kind(unreachable: Path) -> None:
    line = one_error_line(invoke("get", "foos", "--kubeconfig", str(unreachable)))
    assert line == 'error: the server doesn\'t have a resource type "foos"'


@pytest.mark.parametrize("verb", ["describe", "delete", "label"])
def test_unknown_kind_other_verbs(verb: str, unreachable: Path) -> None:
    args = [verb, "widget", "x"] + (["a=b"] if verb == "label" else [])
    line = one_error_line(invoke(*args, "--kubeconfig", str(unreachable)))
    assert 'resource type "widget"' in line


def test_server_unreachable(unreachable: Path) -> None:
    line = one_error_line(invoke("get", "pods", "--kubeconfig", str(unreachable)))
    assert line.startswith("error: cannot reach the apiserver at http://127.0.0.1:1")
    assert "minik8s status" in line


def test_global_options_after_the_verb(unreachable: Path) -> None:
    line = one_error_line(invoke("get", "po", "-n", "kube-system", f"--kubeconfig={unreachable}"))
    assert "cannot reach the apiserver" in line


def test_missing_kubeconfig(tmp_path: Path) -> None:
    line = one_error_line(invoke("--kubeconfig", str(tmp_path / "nope"), "get", "pods"))
    assert line == f"error: kubeconfig {tmp_path / 'nope'} does not exist"


def test_apply_missing_file(unreachable: Path) -> None:
    line = one_error_line(invoke("apply", "-f", "/no/such.yaml", "--kubeconfig", str(unreachable)))
    assert line == 'error: the path "/no/such.yaml" does not exist'


def test_apply_invalid_yaml(tmp_path: Path, unreachable: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: {name: [\n")
    line = one_error_line(invoke("apply", "-f", str(bad), "--kubeconfig", str(unreachable)))
    assert line.startswith(f"error: error parsing {bad}:")
    assert "line" in line


def test_apply_missing_kind(tmp_path: Path, unreachable: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("metadata: {name: x}\n")
    line = one_error_line(invoke("create", "-f", str(bad), "--kubeconfig", str(unreachable)))
    assert "[apiVersion not set, kind not set]" in line


def test_apply_unknown_kind_from_stdin(unreachable: Path) -> None:
    doc = "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n"
    result = invoke("apply", "-f", "-", "--kubeconfig", str(unreachable), input=doc)
    line = one_error_line(result)
    assert line == (
        'error: resource mapping not found for name: "w": no matches for kind "Widget" '
        'in version "v1"'
    )


def test_bad_output_format(unreachable: Path) -> None:
    line = one_error_line(invoke("get", "po", "-o", "xml", "--kubeconfig", str(unreachable)))
    assert 'output format "xml"' in line


def test_run_without_image(unreachable: Path) -> None:
    line = one_error_line(invoke("run", "x", "--kubeconfig", str(unreachable)))
    assert line == 'error: required flag(s) "image" not set'


def test_run_dry_run_client_needs_no_server(unreachable: Path) -> None:
    result = invoke("run", "web", "--image=nginx", "--port=80", "--dry-run=client", "-o", "yaml",
                    "--kubeconfig", str(unreachable))  # fmt: skip
    assert result.exit_code == 0, result.output
    pod = yaml.safe_load(result.stdout)
    assert pod["metadata"] == {"name": "web", "labels": {"run": "web"}}


def test_scale_needs_a_scalable_kind(unreachable: Path) -> None:
    args = ("scale", "po/x", "--replicas", "2", "--kubeconfig", str(unreachable))
    assert one_error_line(invoke(*args)) == "error: cannot scale pods: no scale subresource"


def test_rollout_only_rollable_kinds(unreachable: Path) -> None:
    line = one_error_line(invoke("rollout", "status", "rs/x", "--kubeconfig", str(unreachable)))
    assert "no rollout support for replicasets" in line


def test_label_needs_changes(unreachable: Path) -> None:
    line = one_error_line(invoke("label", "po", "x", "--kubeconfig", str(unreachable)))
    assert line == "error: at least one label update is required"


def test_delete_needs_names(unreachable: Path) -> None:
    line = one_error_line(invoke("delete", "pods", "--kubeconfig", str(unreachable)))
    assert line == "error: resource(s) were provided, but no name was specified"
