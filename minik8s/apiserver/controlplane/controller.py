"""Starts and stops the apiserver's own background work (see the package's docstring)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import bootstraptoken
from minik8s.api.resources import SECRETS
from minik8s.apiserver import certificates
from minik8s.apiserver.admission import Admission
from minik8s.apiserver.authn.bootstraptoken import BootstrapTokenAuthenticator
from minik8s.apiserver.authn.chain import Authenticator
from minik8s.apiserver.authz.authorizer import Union
from minik8s.apiserver.config import ApiserverSettings
from minik8s.apiserver.controlplane import allocationrepair
from minik8s.apiserver.controlplane.identity import ApiserverIdentity
from minik8s.apiserver.listeners import advertise_address
from minik8s.apiserver.registry import Registry
from minik8s.client import tasks

logger = logging.getLogger(__name__)

WITHDRAW_TIMEOUT = 3.0
"""Seconds a stopping apiserver spends taking itself out of the `kubernetes` Endpoints (a
killed one drops out when its Lease expires anyway)."""


@dataclass
class ControlPlane:
    settings: ApiserverSettings
    registry: Registry
    authorizer: Union | None
    authenticator: Authenticator
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    identity: ApiserverIdentity | None = None

    async def start(self) -> None:
        registry = self.registry
        registry.admission.append(certificates.admit_create)
        registry.validating = Admission(
            [*registry.validating.plugins, certificates.CertificatesAdmission(self.authorizer)]
        )
        secrets = registry.cache.cache(SECRETS).objects
        for authenticator in self.authenticator.token_authenticators:
            if isinstance(authenticator, BootstrapTokenAuthenticator):
                authenticator.bind(
                    lambda name: secrets.get(SECRETS.storage_key(bootstraptoken.NAMESPACE, name))
                )
        store = registry.store
        self._tasks.append(tasks.spawn(allocationrepair.run(store), "service address repair"))
        s = self.settings
        if s.endpoint_reconciler_type == "none":
            return  # no identity Lease either: they exist for the lease reconciler
        address = advertise_address(s.advertise_address, s.bind_address)
        if address is None:
            logger.warning(
                "no address to advertise (bound to %s, no default route): no identity Lease, "
                "the kubernetes Service's Endpoints are left alone; set --advertise-address",
                s.bind_address,
            )
            return
        self.identity = ApiserverIdentity(
            registry,
            (address, s.port),
            s.service_cluster_ip_range,
            s.identity_lease_duration_seconds,
            s.identity_lease_renew_interval_seconds,
        )
        self._tasks.append(tasks.spawn(self.identity.run(), "apiserver identity"))

    async def stop(self) -> None:
        await tasks.cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self.identity is not None:
            try:  # bounded: a stopping apiserver must not hang on a slow etcd
                async with asyncio.timeout(WITHDRAW_TIMEOUT):
                    await self.identity.withdraw()
            except TimeoutError:
                logger.warning("apiserver identity: not withdrawn in %.0fs", WITHDRAW_TIMEOUT)
