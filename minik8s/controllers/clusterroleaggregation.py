"""The clusterrole-aggregation controller: an aggregated ClusterRole holds the rules of the
ClusterRoles its `aggregationRule.clusterRoleSelectors` select (Kubernetes' controller).

`admin`, `edit` and `view` are aggregated: adding a ClusterRole labelled
`rbac.authorization.k8s.io/aggregate-to-view: "true"` extends `view` (and, through `edit`'s
label, `edit` and `admin`). Any ClusterRole change re-checks every aggregated one; the union
is computed by `minik8s.api.rbac.aggregated_rules` and written only when it differs.
"""

from __future__ import annotations

import logging

from minik8s.api import errors, meta, rbac
from minik8s.api.resources import CLUSTERROLES
from minik8s.controllers.base import Controller

logger = logging.getLogger(__name__)


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation"

    def register(self) -> None:
        self.roles = self.ctx.informer(CLUSTERROLES)
        self.roles.add_event_handler(
            self._changed, lambda old, new: self._changed(new), self._changed
        )

    def _changed(self, _: dict) -> None:
        for role in self.roles.store.list():
            if rbac.aggregation_selectors(role) is not None:
                self.enqueue(role)

    async def reconcile(self, key: str) -> None:
        role = self.roles.store.get_by_key(key)
        if role is None:
            return
        rules = rbac.aggregated_rules(role, self.roles.store.list())
        if rules is None or rules == (role.get("rules") or []):
            return
        try:
            await self.client.update(CLUSTERROLES, {**role, "rules": rules})
        except errors.NotFound:
            return
        logger.info("clusterrole %s: aggregated %d rules", meta.name_of(role), len(rules))
