"""How every Kafka client of Palaute connects: plaintext, TLS, SASL or both, from one set of
settings (PALAUTE_KAFKA_SECURITY_PROTOCOL and friends), handed to FastStream's brokers and
to every plain aiokafka client alike (the outbox relay, topic creation, the topic reader
behind `palaute tail` and `optout verify`)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

if TYPE_CHECKING:
    from palaute_runtime.settings import CommonSettings

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def tls_context(
    ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> ssl.SSLContext:
    """A client TLS context that verifies the broker (against `ca_file` alone when given,
    else the system's CAs) and presents a client certificate when one is given."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context


def kafka_security(settings: CommonSettings) -> BaseSecurity | None:
    """FastStream's form of the settings' Kafka security (None: plaintext)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    uses_tls = protocol in ("SSL", "SASL_SSL")
    context = (
        tls_context(
            settings.kafka_ssl_ca_file, settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file
        )
        if uses_tls
        else None
    )
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    mechanism = _SASL[settings.kafka_sasl_mechanism]
    return mechanism(
        settings.kafka_sasl_username or "",
        settings.kafka_sasl_password or "",
        ssl_context=context,
        use_ssl=uses_tls,
    )


def security_options(settings: CommonSettings) -> dict[str, Any]:
    """aiokafka's keyword arguments for the settings' security (none for plaintext)."""
    return parse_security(kafka_security(settings))


def client_options(settings: CommonSettings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: the bootstrap and the security."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **security_options(settings)}


def unreachable(settings: CommonSettings, bootstrap: str, error: BaseException) -> str:
    """One sentence for a Kafka that could not be used, with what to check."""
    protocol = settings.kafka_security_protocol
    check = "is it running and reachable"
    if protocol in ("SSL", "SASL_SSL"):
        check += (
            ", and is PALAUTE_KAFKA_SSL_CA_FILE the CA that signed its certificate (and the "
            "client certificate one it accepts)"
        )
    if protocol.startswith("SASL"):
        check += ", and are PALAUTE_KAFKA_SASL_USERNAME and _PASSWORD right"
    return (
        f"Kafka at {bootstrap} could not be used over {protocol} ({type(error).__name__}): {check}?"
    )
