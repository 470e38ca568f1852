"""Every Kafka client gets the same security from the settings: plaintext by default, TLS
with the CA and client certificate, SASL with its mechanism and user (over TLS or not), and
incomplete settings refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from palaute_runtime.kafka_security import client_options, kafka_security
from palaute_runtime.settings import CommonSettings
from tests.tls import make_certificates


def test_plaintext_by_default() -> None:
    settings = CommonSettings()
    assert kafka_security(settings) is None
    assert client_options(settings) == {"bootstrap_servers": settings.kafka_bootstrap}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls_carries_the_mechanism_user_and_a_verifying_context(
    tmp_path: Path, mechanism: str
) -> None:
    certificates = make_certificates(tmp_path)
    options = client_options(
        CommonSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=mechanism,  # type: ignore[arg-type]
            kafka_sasl_username="palaute",
            kafka_sasl_password="kafka-password",
            kafka_ssl_ca_file=certificates.ca,
        )
    )
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == (mechanism, "palaute")
    assert options["ssl_context"].check_hostname is True


def test_sasl_without_tls_has_no_tls_context() -> None:
    options = client_options(
        CommonSettings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username="palaute",
            kafka_sasl_password="kafka-password",
        )
    )
    assert (options["security_protocol"], options["ssl_context"]) == ("SASL_PLAINTEXT", None)


def test_incomplete_security_settings_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs PALAUTE_KAFKA_SASL_USERNAME"):
        CommonSettings(kafka_security_protocol="SASL_SSL")
    with pytest.raises(ValidationError, match="go together"):
        CommonSettings(kafka_ssl_cert_file=make_certificates(tmp_path).cert)
    with pytest.raises(ValidationError, match="is not a file"):
        CommonSettings(kafka_ssl_ca_file=tmp_path / "missing.pem")
