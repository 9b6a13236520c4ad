"""The PodSecurity plugin's configuration from `--admission-control-config-file`, Kubernetes'
`AdmissionConfiguration` (apiserver.config.k8s.io/v1) whose `PodSecurity` plugin carries a
`PodSecurityConfiguration` (pod-security.admission.config.k8s.io/v1) inline or in a file:

    apiVersion: apiserver.config.k8s.io/v1
    kind: AdmissionConfiguration
    plugins:
    - name: PodSecurity
      configuration:
        apiVersion: pod-security.admission.config.k8s.io/v1
        kind: PodSecurityConfiguration
        defaults: {enforce: baseline, enforce-version: latest, warn: restricted}
        exemptions: {usernames: [], runtimeClasses: [], namespaces: [kube-system]}

Other plugins' sections are not read (they have no configuration here). A bad file stops the
apiserver at start-up with one line, as Kubernetes'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from minik8s.apiserver.podsecurity.admission import Exemptions
from minik8s.apiserver.podsecurity.levels import (
    MODES,
    LevelVersion,
    Policy,
    parse_level,
    parse_version,
)

ADMISSION_KIND = "AdmissionConfiguration"
CONFIG_KIND = "PodSecurityConfiguration"
CONFIG_API_VERSIONS = ("pod-security.admission.config.k8s.io/v1",
                       "pod-security.admission.config.k8s.io/v1beta1")  # fmt: skip


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


@dataclass(frozen=True)
class PodSecurityConfig:
    defaults: Policy = field(default_factory=Policy)
    exemptions: Exemptions = field(default_factory=Exemptions)


def load(path: str | None) -> PodSecurityConfig:
    """The PodSecurity configuration in an AdmissionConfiguration file (defaults when the
    file does not configure the plugin, or there is no file)."""
    if not path:
        return PodSecurityConfig()
    document = _yaml(Path(path))
    if document.get("kind") != ADMISSION_KIND:
        raise ConfigError(f"{path}: kind must be {ADMISSION_KIND}, not {document.get('kind')!r}")
    for plugin in document.get("plugins") or []:
        if not isinstance(plugin, dict) or plugin.get("name") != "PodSecurity":
            continue
        configuration = plugin.get("configuration")
        if configuration is None and plugin.get("path"):
            plugin_path = Path(plugin["path"])
            if not plugin_path.is_absolute():
                plugin_path = Path(path).parent / plugin_path
            configuration = _yaml(plugin_path)
        return parse(configuration or {}, path)
    return PodSecurityConfig()


def parse(configuration: dict[str, Any], where: str = "PodSecurity") -> PodSecurityConfig:
    if configuration.get("kind") != CONFIG_KIND:
        raise ConfigError(f"{where}: the PodSecurity configuration must be a {CONFIG_KIND}")
    if configuration.get("apiVersion") not in CONFIG_API_VERSIONS:
        raise ConfigError(f"{where}: unsupported apiVersion {configuration.get('apiVersion')!r}")
    defaults = configuration.get("defaults") or {}
    modes = {}
    for mode in MODES:
        level = parse_level(str(defaults.get(mode, "privileged")))
        version = parse_version(str(defaults.get(f"{mode}-version", "latest")))
        if level is None or version is None:
            raise ConfigError(f"{where}: defaults.{mode}: must be privileged, baseline or "
                              f'restricted, with a version "latest" or "v1.x"')  # fmt: skip
        modes[mode] = LevelVersion(level, version)
    exemptions = configuration.get("exemptions") or {}
    return PodSecurityConfig(
        Policy(**modes),
        Exemptions(
            usernames=frozenset(exemptions.get("usernames") or ()),
            runtime_classes=frozenset(exemptions.get("runtimeClasses") or ()),
            namespaces=frozenset(exemptions.get("namespaces") or ()),
        ),
    )


def _yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from e
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: not a YAML object")
    return document
