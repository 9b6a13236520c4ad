"""Validation of a pod's names and DNS settings: hostname, subdomain, dnsConfig, hostAliases.

Kubernetes' limits and messages (`validatePodDNSConfig`, `validateHostAliases`): at most 3
nameservers, 32 search domains of at most 2048 characters in all; `dnsPolicy: None` needs a
`dnsConfig` with a nameserver.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.errors import Cause
from minik8s.api.validation import formats as fmt
from minik8s.api.validation.meta import child, index, invalid, invalid_each, items, required

MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048


def validate_pod_dns(spec: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("hostname", "subdomain"):
        value = spec.get(field)
        if value:
            causes += invalid_each(child(path, field), value, fmt.is_dns1123_label(str(value)))
    causes += _validate_dns_config(spec.get("dnsConfig"), spec.get("dnsPolicy"), path)
    for i, alias in enumerate(items(spec, "hostAliases")):
        alias_path = index(child(path, "hostAliases"), i)
        causes += invalid_each(
            child(alias_path, "ip"), alias.get("ip"), fmt.is_valid_ip(str(alias.get("ip") or ""))
        )
        for j, hostname in enumerate(alias.get("hostnames") or []):
            causes += invalid_each(
                index(child(alias_path, "hostnames"), j),
                hostname,
                fmt.is_dns1123_subdomain(str(hostname)),
            )
    return causes


def _validate_dns_config(config: Any, policy: Any, path: str) -> list[Cause]:
    config_path = child(path, "dnsConfig")
    if policy == "None":
        if not isinstance(config, dict):
            return [required(config_path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not config.get("nameservers"):
            return [
                required(
                    child(config_path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            ]
    if not isinstance(config, dict):
        return []
    causes: list[Cause] = []
    nameservers = config.get("nameservers") or []
    if len(nameservers) > MAX_NAMESERVERS:
        causes.append(
            invalid(
                child(config_path, "nameservers"),
                nameservers,
                f"must not have more than {MAX_NAMESERVERS} nameservers",
            )
        )
    for i, server in enumerate(nameservers):
        causes += invalid_each(
            index(child(config_path, "nameservers"), i), server, fmt.is_valid_ip(str(server))
        )
    searches = config.get("searches") or []
    if len(searches) > MAX_SEARCHES:
        causes.append(
            invalid(
                child(config_path, "searches"),
                searches,
                f"must not have more than {MAX_SEARCHES} search paths",
            )
        )
    if len(" ".join(str(s) for s in searches)) > MAX_SEARCH_CHARS:
        causes.append(
            invalid(
                child(config_path, "searches"),
                searches,
                f"must not have more than {MAX_SEARCH_CHARS} characters (including spaces) "
                "in the search list",
            )
        )
    for i, search in enumerate(searches):
        text = str(search)
        if text == ".":
            continue
        causes += invalid_each(
            index(child(config_path, "searches"), i), search,
            fmt.is_dns1123_subdomain(text[:-1] if text.endswith(".") else text),
        )  # fmt: skip
    for i, option in enumerate(config.get("options") or []):
        if not isinstance(option, dict) or not option.get("name"):
            causes.append(
                required(index(child(config_path, "options"), i), "Option.Name must not be empty")
            )
    return causes
