"""Pod Security levels, policy versions and a namespace's policy from its labels (pure), as
Kubernetes' pod-security-admission reads `pod-security.kubernetes.io/<mode>[-version]`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from minik8s.api.errors import Cause
from minik8s.api.validation.meta import invalid, key

LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")


class Level(StrEnum):
    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def strictness(self) -> int:
        return (Level.PRIVILEGED, Level.BASELINE, Level.RESTRICTED).index(self)


class Version(NamedTuple):
    major: int
    minor: int
    latest: bool = False

    def __str__(self) -> str:
        return "latest" if self.latest else f"v{self.major}.{self.minor}"

    def __lt__(self, other: object) -> bool:  # latest is newer than any version
        assert isinstance(other, Version)
        if self.latest or other.latest:
            return not self.latest and other.latest
        return (self.major, self.minor) < (other.major, other.minor)


LATEST = Version(0, 0, True)
_VERSION = re.compile(r"v1\.(0|[1-9][0-9]*)")


def parse_level(text: str) -> Level | None:
    try:
        return Level(text)
    except ValueError:
        return None


def parse_version(text: str) -> Version | None:
    if text == "latest":
        return LATEST
    match = _VERSION.fullmatch(text)
    return Version(1, int(match[1])) if match and len(match[1]) < 6 else None


@dataclass(frozen=True)
class LevelVersion:
    level: Level = Level.PRIVILEGED
    version: Version = LATEST

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion = field(default_factory=LevelVersion)
    audit: LevelVersion = field(default_factory=LevelVersion)
    warn: LevelVersion = field(default_factory=LevelVersion)

    @property
    def fully_privileged(self) -> bool:
        return all(lv.level is Level.PRIVILEGED for lv in (self.enforce, self.audit, self.warn))


LEVEL_ERROR = "must be one of privileged, baseline, restricted"
VERSION_ERROR = 'must be "latest" or "v1.x"'


def policy_to_evaluate(labels: dict[str, str], defaults: Policy) -> tuple[Policy, list[Cause]]:
    """The namespace's policy: its labels over the defaults. A bad enforce level enforces
    `restricted` (fail closed); bad audit and warn levels are privileged (fail open); a bad
    version is `latest`. Without its own warn label, warn follows a stricter enforce label."""
    policy, causes = defaults, []
    path = "metadata.labels"
    has_enforce_level = has_warn_level = has_warn_version = False
    for mode in MODES:
        current: LevelVersion = getattr(policy, mode)
        level_label, version_label = LABEL_PREFIX + mode, f"{LABEL_PREFIX}{mode}-version"
        if level_label in labels:
            level = parse_level(labels[level_label])
            if level is None:
                causes.append(invalid(key(path, level_label), labels[level_label], LEVEL_ERROR))
                level = Level.RESTRICTED if mode == "enforce" else Level.PRIVILEGED
            elif mode == "enforce":
                has_enforce_level = True
            has_warn_level = has_warn_level or mode == "warn"
            current = replace(current, level=level)
        if version_label in labels:
            version = parse_version(labels[version_label])
            if version is None:
                causes.append(
                    invalid(key(path, version_label), labels[version_label], VERSION_ERROR)
                )
                version = LATEST
            has_warn_version = has_warn_version or mode == "warn"
            current = replace(current, version=version)
        policy = replace(policy, **{mode: current})
    if (
        not has_warn_level
        and has_enforce_level
        and policy.enforce.level.strictness > policy.warn.level.strictness
    ):
        version = policy.warn.version if has_warn_version else policy.enforce.version
        policy = replace(policy, warn=LevelVersion(policy.enforce.level, version))
    return policy, causes
