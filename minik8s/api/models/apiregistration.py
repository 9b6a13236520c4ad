"""apiregistration.k8s.io/v1 APIService: a group version served by this apiserver (`Local`)
or proxied by the aggregation layer to an extension server behind a Service."""

from __future__ import annotations

from minik8s.api.models.base import ApiModel
from minik8s.api.models.meta import TypedObject


class ServiceReference(ApiModel):
    """The Service in front of an extension apiserver."""

    namespace: str | None = None
    name: str | None = None
    port: int | None = None
    """The Service port to reach (default 443)."""


class APIServiceSpec(ApiModel):
    """Which group version, and where it is served."""

    service: ServiceReference | None = None
    """The Service of the extension apiserver; none for a group version served locally."""
    group: str | None = None
    """The API group, such as metrics.k8s.io."""
    version: str | None = None
    """The API version, such as v1beta1."""
    insecure_skip_tls_verify: bool | None = None
    """Skip checking the extension server's certificate (discouraged: set caBundle)."""
    ca_bundle: str | None = None
    """PEM CA bundle (base64) that signed the extension server's serving certificate."""
    group_priority_minimum: int
    """Orders groups in discovery (higher first); 1 to 20000."""
    version_priority: int
    """Orders the versions of a group (higher first); 1 to 1000."""


class APIServiceCondition(ApiModel):
    type: str
    """Available: whether the group version answers."""
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class APIServiceStatus(ApiModel):
    conditions: list[APIServiceCondition] | None = None


class APIService(TypedObject):
    """A group version of the API and where it is served; named `<version>.<group>`."""

    spec: APIServiceSpec
    status: APIServiceStatus | None = None
