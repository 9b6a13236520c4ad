"""Printers of the `certificates.k8s.io` group: CertificateSigningRequests."""

from __future__ import annotations

from datetime import datetime, timedelta

from minik8s.api import certificates, meta, times
from minik8s.api.meta import Object
from minik8s.printers.columns import AGE, NAME, Cells, Column, age

CSR_COLUMNS = (
    NAME,
    AGE,
    Column("SignerName", "The name of the signer that will sign the certificate."),
    Column("Requestor", "The user who made the request."),
    Column("RequestedDuration", "The requested duration of the certificate."),
    Column("Condition", "The approval and issuance state of the request."),
)


def csr_cells(csr: Object, now: datetime) -> Cells:
    spec = meta.spec_of(csr)
    seconds = spec.get("expirationSeconds")
    duration = "<none>"
    if isinstance(seconds, int):
        duration = times.human_duration(timedelta(seconds=seconds))
    return [
        meta.name_of(csr),
        age(csr, now),
        spec.get("signerName") or "",
        spec.get("username") or "",
        duration,
        certificates.condition_summary(csr),
    ]
