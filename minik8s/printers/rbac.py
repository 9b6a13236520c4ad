"""Printers of the `rbac.authorization.k8s.io` group: Roles, ClusterRoles and their bindings."""

from __future__ import annotations

from datetime import datetime

from minik8s.api import meta
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

ROLE_COLUMNS = (NAME, Column("Created At", "When the role was created.", format="date"))


def role_cells(role: Object, now: datetime) -> Cells:
    return [meta.name_of(role), meta.meta(role).get("creationTimestamp") or ""]


BINDING_COLUMNS = (
    NAME,
    Column("Role", "The role bound, as Kind/name."),
    AGE,
    Column("Users", "Users in the binding.", priority=1),
    Column("Groups", "Groups in the binding.", priority=1),
    Column("ServiceAccounts", "ServiceAccounts in the binding, as namespace/name.", priority=1),
)


def binding_cells(binding: Object, now: datetime) -> Cells:
    ref = binding.get("roleRef") or {}
    subjects = [s for s in binding.get("subjects") or [] if isinstance(s, dict)]

    def names(kind: str) -> str:
        return ", ".join(str(s.get("name")) for s in subjects if s.get("kind") == kind)

    accounts = ", ".join(
        f"{s.get('namespace') or ''}/{s.get('name')}"
        for s in subjects
        if s.get("kind") == "ServiceAccount"
    )
    return [
        meta.name_of(binding),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(binding, now),
        names("User"),
        names("Group"),
        accounts,
    ]
