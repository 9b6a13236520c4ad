"""The root CA certificate publisher: a `kube-root-ca.crt` ConfigMap in every namespace.

As kube-controller-manager's `root-ca-cert-publisher`: the ConfigMap holds `ca.crt`, the CA
bundle that verifies the apiserver (`--root-ca-file`, else the CA of the controller-manager's
own kubeconfig), and is put back whenever it is deleted or changed. Pods read it through the
projected `kube-api-access-*` volume.
"""

from __future__ import annotations

import logging

from minik8s.api import errors
from minik8s.api.meta import Object, is_deleting, name_of, namespace_of
from minik8s.api.resources import CONFIGMAPS, NAMESPACES
from minik8s.controllers.base import Context, Controller

logger = logging.getLogger(__name__)

CONFIGMAP_NAME = "kube-root-ca.crt"
CA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


def desired(namespace: str, ca: str) -> Object:
    return {
        "metadata": {
            "name": CONFIGMAP_NAME,
            "namespace": namespace,
            "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
        },
        "data": {CA_KEY: ca},
    }


def needs_update(current: Object, ca: str) -> bool:
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    return (current.get("data") or {}) != {CA_KEY: ca} or annotations.get(
        DESCRIPTION_ANNOTATION
    ) != DESCRIPTION


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.ca = root_ca(ctx)

    def register(self) -> None:
        self.namespaces = self.ctx.informer(NAMESPACES)
        self.configmaps = self.ctx.informer(
            CONFIGMAPS, field_selector=f"metadata.name={CONFIGMAP_NAME}"
        )
        self.namespaces.add_event_handler(
            lambda ns: self.queue.add(name_of(ns)), lambda old, new: self.queue.add(name_of(new))
        )
        self.configmaps.add_event_handler(
            None, lambda old, new: self._configmap(new), self._configmap
        )

    def _configmap(self, configmap: Object) -> None:
        self.queue.add(namespace_of(configmap))

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.store.get_by_key(key)
        if namespace is None or is_deleting(namespace) or not self.ca:
            return
        current = self.configmaps.store.get_by_key(f"{key}/{CONFIGMAP_NAME}")
        try:
            if current is None:
                await self.client.create(CONFIGMAPS, desired(key, self.ca), key)
                logger.info("namespace %s: published %s", key, CONFIGMAP_NAME)
            elif needs_update(current, self.ca):
                updated = {**current, "data": {CA_KEY: self.ca}}
                updated["metadata"] = {
                    **current["metadata"],
                    "annotations": {
                        **(current["metadata"].get("annotations") or {}),
                        DESCRIPTION_ANNOTATION: DESCRIPTION,
                    },
                }
                await self.client.update(CONFIGMAPS, updated)
                logger.info("namespace %s: %s put back", key, CONFIGMAP_NAME)
        except (errors.AlreadyExists, errors.Conflict):
            self.queue.add_after(key, 0.5)  # the informer was behind: look again
        except (errors.Forbidden, errors.NotFound):
            return  # the namespace is terminating or gone


def root_ca(ctx: Context) -> str:
    path = ctx.settings.root_ca_file
    if path:
        with open(path) as f:
            return f.read()
    config = ctx.client.config
    if config.certificate_authority_data:
        return config.certificate_authority_data.decode()
    if config.certificate_authority:
        with open(config.certificate_authority) as f:
            return f.read()
    logger.warning("no root CA (--root-ca-file, or a CA in the kubeconfig): not publishing")
    return ""
