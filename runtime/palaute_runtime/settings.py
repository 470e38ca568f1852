"""Settings shared by every service, from PALAUTE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from palaute_runtime.clock import Clock
from palaute_runtime.keys import Keyring
from palaute_runtime.programmes import (
    ProgrammeFileError,
    Programmes,
    check_sms_sender,
    load_programmes,
)
from palaute_schemas.identifiers import recipient_ref
from palaute_schemas.send_window import (
    DailyWindow,
    SendWindow,
    SendWindowRules,
    parse_unit_countries,
)

EMBEDDED_BOOTSTRAP = "127.0.0.1:19092"


SmsProvider = Literal["sandbox", "twilio", "46elks"]
REAL_SMS_PROVIDERS: tuple[SmsProvider, ...] = ("twilio", "46elks")


def sms_providers(text: str) -> dict[SmsProvider, int]:
    """PALAUTE_SMS_PROVIDER as {provider: weight}: `twilio`, or `twilio:70,46elks:30`
    (weights are whole numbers 1-100; without one, 1). ValueError saying what is wrong."""
    found: dict[SmsProvider, int] = {}
    for part in text.split(","):
        name, colon, weight = part.strip().partition(":")
        provider = next((p for p in ("sandbox", *REAL_SMS_PROVIDERS) if p == name), None)
        if provider is None or (colon and not (weight.isdigit() and 1 <= int(weight) <= 100)):
            raise ValueError(
                f"PALAUTE_SMS_PROVIDER: {part.strip()!r} is not sandbox, twilio or 46elks, "
                "optionally with a weight of 1-100 (twilio:70,46elks:30)"
            )
        if provider in found:
            raise ValueError(f"PALAUTE_SMS_PROVIDER names {provider} twice")
        found[provider] = int(weight) if colon else 1
    if "sandbox" in found and len(found) > 1:
        raise ValueError(
            "PALAUTE_SMS_PROVIDER: the sandbox's own API is for development alone; several "
            "providers at once are twilio and 46elks"
        )
    return found


# The token the consent service's comment reader shows the collector (development default;
# production sets PALAUTE_STAFF_API_TOKEN for both).
STAFF_API_TOKEN_DEFAULT = "palaute-local-staff-api-token"  # noqa: S105


class CommonSettings(BaseSettings):
    """What every Palaute process needs; the defaults run the embedded local stack."""

    # An empty variable is an unset one (compose passes `${NAME:-}` as ""): its default holds.
    model_config = SettingsConfigDict(env_prefix="PALAUTE_", extra="ignore", env_ignore_empty=True)

    # production: refuse to start with a development default of any secret.
    env: Literal["development", "production"] = "development"
    # The settings whose defaults are development values that production must replace.
    SECRETS: ClassVar[tuple[str, ...]] = ("recipient_pepper", "unsubscribe_key")
    # Secrets of the sandbox's own API alone: needed in production only when it is used
    # (PALAUTE_LOCAL_TESTING).
    SANDBOX_SECRETS: ClassVar[tuple[str, ...]] = (
        "partner_api_key",
        "partner_receipt_secret",
        "partner_webhook_secret",
    )

    kafka_bootstrap: str = EMBEDDED_BOOTSTRAP
    # How every client connects (services, relay, topic job, CLIs, `palaute tail`): PLAINTEXT
    # (the local broker), SSL (TLS: the broker verified against PALAUTE_KAFKA_SSL_CA_FILE, or
    # the system's CAs; a client certificate and key when the broker asks for one),
    # SASL_PLAINTEXT or SASL_SSL (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with a user).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_ca_file: Path | None = None
    kafka_ssl_cert_file: Path | None = None
    kafka_ssl_key_file: Path | None = None
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    # Tansu fails InitProducerId; Apache Kafka in production turns this on.
    kafka_enable_idempotence: bool = False
    # Tansu answers a waiting fetch only at its deadline: keep the deadline short.
    kafka_fetch_max_wait_ms: int = 10
    # A consumer takes what the broker has, up to this many records, and stores them at once.
    kafka_batch_max_records: int = Field(default=500, ge=1, le=10_000)
    # How long a consumer waits for a first record before it polls again.
    kafka_batch_timeout_ms: int = Field(default=5, ge=1, le=10_000)
    # A consumer that sends no heartbeat for this long leaves its group (its partitions go
    # to the others). The local broker also holds a joining member for about half of it.
    kafka_session_timeout_ms: int = Field(default=6000, ge=1000, le=300_000)
    kafka_heartbeat_interval_ms: int = Field(default=1000, ge=100, le=100_000)
    # The longest a record with a person's address (the contact, survey request and opt-out
    # topics, and their dead letters) stays on Kafka; topics are created with it.
    personal_data_retention_days: int = Field(default=3, ge=1, le=30)
    data_dir: Path = Path(".palaute")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    default_region: str = "FI"
    # The default programme's languages: BCP 47 tags of available catalogues (the packaged
    # fi, sv, en, pl, or one in PALAUTE_LOCALE_DIR), comma-separated; the first is the
    # fallback for a contact in a language not offered.
    languages: str = "fi,sv,en"
    # When anyone may be contacted, in the recipient's local time: consent releases surveys
    # and reminders inside it and the dispatcher hands the partner nothing outside it. The
    # zone is the phone number's; for email (or a number of a country with several zones)
    # the unit's country's, from UNIT=COUNTRY pairs (Malmö=SE; the others are in
    # PALAUTE_DEFAULT_REGION), else PALAUTE_DEFAULT_TIME_ZONE. Unit countries also give a
    # follow-up's working days.
    send_window_weekdays: str = "09:00-20:00"
    send_window_saturday: str = "10:00-18:00"
    send_window_sunday: str = ""
    send_on_public_holidays: bool = False
    default_time_zone: str = "Europe/Helsinki"
    unit_countries: str = ""
    # The dispatcher deletes an invitation (and its address) this many days after its survey
    # closed; the collector's privacy notice says so.
    keep_addresses_days: int = Field(default=30, ge=1, le=3650)
    # How often each service purges what it no longer needs (retention).
    purge_interval_seconds: float = Field(default=3600.0, gt=0, le=86_400)
    # Survey programmes per unit (a TOML file, see the README): each names who surveys, the
    # senders and the rules below for its units. The settings below are the default
    # programme's (the units no programme names), and what a programme leaves out.
    programmes_file: Path | None = None
    # Who surveys: the invitation and the survey page name it.
    organization_name: str = Field(default="Palaute", min_length=1, max_length=60)
    # An alphanumeric SMS sender id (at most 11 letters, digits or spaces, at least one
    # letter; in Finland registered with Traficom) or an E.164 number; the email From and an
    # optional Reply-To.
    sms_sender: str = "Palaute"
    email_sender: str = "Palaute <kysely@palaute.invalid>"
    email_reply_to: str | None = None
    # Consent: a survey is released this long after its contact closed (inside the send
    # window), at most one per person in this many days (0: no cap), and reminded once this
    # many days after its release (0: never).
    release_delay_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    frequency_cap_days: int = Field(default=30, ge=0, le=3650)
    reminder_after_days: int = Field(default=0, ge=0, le=60)
    # Collector: a follow-up the respondent asks for is due this many working days later,
    # in the unit's country (PALAUTE_UNIT_COUNTRIES).
    follow_up_working_days: int = Field(default=3, ge=1, le=30)
    # Whose SMS API the dispatcher sends through and whose webhooks the dispatcher (delivery
    # reports) and the collector (incoming SMS) take: `sandbox` (the sandbox's own API:
    # PALAUTE_PARTNER_SMS_URL, _API_KEY, _RECEIPT_SECRET, _WEBHOOK_SECRET), `twilio` or
    # `46elks`; or both real ones at once with their weights, `twilio:70,46elks:30` (each
    # SMS goes to one by weight; failover.py moves weight away from one that fails).
    sms_provider: str = Field(default="sandbox", max_length=100)
    # Production with the sandbox as its partner (docker compose's local-testing profile):
    # without it, production refuses the sandbox and partner hosts on this machine.
    local_testing: bool = False
    # Twilio: the account, its Auth Token (ID:SECRET list: the primary first, the secondary
    # after it while it is promoted), the API's base URL, a Messaging Service to send from
    # (else From is the programme's sender), and the public URLs Twilio calls, exactly as
    # configured there (the signature covers them): the dispatcher's status callback and the
    # collector's incoming-message webhook.
    twilio_account_sid: str = Field(default="", max_length=64)
    twilio_auth_token: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    twilio_messaging_service_sid: str = Field(default="", max_length=64)
    twilio_status_callback_url: str = ""
    twilio_inbound_url: str = ""
    # 46elks: the API user and password, the API's base URL, the public URL of the
    # dispatcher's delivery-report webhook (sent with each SMS as `whendelivered`, with the
    # webhook secret as its Basic auth password), and that secret (ID:SECRET list), which
    # also guards the incoming-SMS webhook (the number's sms_url at 46elks carries it).
    elks_username: str = Field(default="", max_length=100)
    elks_password: str = ""
    elks_api_url: str = "https://api.46elks.com"
    elks_delivery_url: str = ""
    elks_webhook_secret: str = ""
    # Keyed pseudonym of SMS numbers, shared by dispatcher and collector. Set it in production.
    recipient_pepper: str = "palaute-local-development-pepper"
    # Key of the unsubscribe links, shared by dispatcher and collector. Set it in production.
    unsubscribe_key: str = "palaute-local-development-unsubscribe-key"
    # The reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed; from anyone else those headers are ignored, and the
    # client is the address that connected. Empty: no proxy is trusted.
    trusted_proxies: str = ""
    # The operations port (/health/live, /health/ready, /metrics) listens here, apart from
    # the service's own port (never on the port the survey page is published on); each
    # service has its own PALAUTE_<SERVICE>_OPS_PORT. Containers listen on all addresses
    # and publish nothing: Prometheus and the orchestrator reach it on the inside network.
    ops_host: str = "127.0.0.1"
    # Development and tests only: the service's clock starts at this instant and runs on.
    clock_start: AwareDatetime | None = None

    _programmes: Programmes | None = PrivateAttr(default=None)

    @field_validator("sms_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_sms_sender(value)

    @field_validator("send_window_weekdays", "send_window_saturday", "send_window_sunday")
    @classmethod
    def _window(cls, value: str) -> str:
        DailyWindow.parse(value)
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name like Europe/Helsinki") from None
        return value

    @field_validator("unit_countries")
    @classmethod
    def _unit_countries(cls, value: str) -> str:
        parse_unit_countries(value)
        return value

    def send_window_rules(self) -> SendWindowRules:
        """When anyone may be contacted, as these settings say."""
        return SendWindowRules(
            window=SendWindow(
                DailyWindow.parse(self.send_window_weekdays),
                DailyWindow.parse(self.send_window_saturday),
                DailyWindow.parse(self.send_window_sunday),
            ),
            skip_public_holidays=not self.send_on_public_holidays,
            default_zone=ZoneInfo(self.default_time_zone),
            default_country=self.default_region,
            unit_countries=parse_unit_countries(self.unit_countries),
        )

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> CommonSettings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"PALAUTE_KAFKA_SECURITY_PROTOCOL={protocol} needs PALAUTE_KAFKA_SASL_USERNAME "
                "and PALAUTE_KAFKA_SASL_PASSWORD"
            )
        files = (self.kafka_ssl_ca_file, self.kafka_ssl_cert_file, self.kafka_ssl_key_file)
        for path in files:
            if path is not None and not path.is_file():
                raise ValueError(f"the Kafka TLS file {path} is not a file")
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError(
                "PALAUTE_KAFKA_SSL_CERT_FILE and PALAUTE_KAFKA_SSL_KEY_FILE go together"
            )
        return self

    @model_validator(mode="after")
    def _programmes_hold(self) -> CommonSettings:
        try:
            self._programmes = load_programmes(
                self.programmes_file,
                {
                    "organization_name": self.organization_name,
                    "sms_sender": self.sms_sender,
                    "email_from": self.email_sender,
                    "reply_to": self.email_reply_to,
                    "questions": ("nps", "csat"),
                    "languages": tuple(filter(None, map(str.strip, self.languages.split(",")))),
                    "send_window": {
                        "weekdays": self.send_window_weekdays,
                        "saturday": self.send_window_saturday,
                        "sunday": self.send_window_sunday,
                    },
                    "send_on_public_holidays": self.send_on_public_holidays,
                    "release_delay_minutes": self.release_delay_minutes,
                    "reminder_after_days": self.reminder_after_days,
                    "frequency_cap_days": self.frequency_cap_days,
                    "follow_up_working_days": self.follow_up_working_days,
                },
            )
        except ProgrammeFileError as exc:
            raise ValueError(f"PALAUTE_PROGRAMMES_FILE: {exc}") from None
        return self

    @property
    def programmes(self) -> Programmes:
        """The survey programmes (the default alone without a file)."""
        assert self._programmes is not None  # set by the validator
        return self._programmes

    @model_validator(mode="after")
    def _heartbeat_within_the_session(self) -> CommonSettings:
        if self.kafka_heartbeat_interval_ms * 3 > self.kafka_session_timeout_ms:
            raise ValueError(
                "PALAUTE_KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of "
                "PALAUTE_KAFKA_SESSION_TIMEOUT_MS (a consumer beats several times a session)"
            )
        return self

    @property
    def sms_providers(self) -> dict[SmsProvider, int]:
        """The SMS providers in use and their configured weights (PALAUTE_SMS_PROVIDER)."""
        return sms_providers(self.sms_provider)

    @field_validator("sms_provider")
    @classmethod
    def _providers_named(cls, value: str) -> str:
        sms_providers(value)
        return value

    @model_validator(mode="after")
    def _provider_configured(self) -> CommonSettings:
        if "twilio" in self.sms_providers:
            missing = [
                f"PALAUTE_{name.upper()}"
                for name in ("twilio_account_sid", "twilio_auth_token")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"PALAUTE_SMS_PROVIDER=twilio needs {' and '.join(missing)}")
            Keyring.parse(self.twilio_auth_token)
        if "46elks" in self.sms_providers:
            missing = [
                f"PALAUTE_{name.upper()}"
                for name in ("elks_username", "elks_password", "elks_webhook_secret")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"PALAUTE_SMS_PROVIDER=46elks needs {' and '.join(missing)}")
            Keyring.parse(self.elks_webhook_secret)
        return self

    @model_validator(mode="after")
    def _real_partners_in_production(self) -> CommonSettings:
        if self.env == "production" and not self.local_testing and "sandbox" in self.sms_providers:
            raise ValueError(
                "PALAUTE_SMS_PROVIDER is sandbox, a stand-in that sends nothing, in production: "
                "set twilio or 46elks (or both with weights), or PALAUTE_LOCAL_TESTING=true for a "
                "test run against the sandbox"
            )
        return self

    @model_validator(mode="after")
    def _senders_take_replies(self) -> CommonSettings:
        """Every SMS asks for a 0-10 reply and says STOP: at a real provider an alphanumeric
        sender is one-way (Twilio, 46elks), so no reply and no STOP could ever reach us."""
        for provider in self.sms_providers:
            if provider != "sandbox":
                self._sender_takes_replies_at(provider)
        return self

    def _sender_takes_replies_at(self, provider: SmsProvider) -> None:
        if provider == "twilio" and self.twilio_messaging_service_sid:
            return  # its number pool sends (and takes the replies); see the README
        for programme in self.programmes.all:
            if not programme.sms_sender.startswith("+"):
                which = (
                    "the default programme (PALAUTE_SMS_SENDER)"
                    if programme is self.programmes.default
                    else f"programme {programme.name!r}"
                )
                instead = (
                    "a Twilio number of yours in E.164 (+358...) or "
                    "PALAUTE_TWILIO_MESSAGING_SERVICE_SID"
                    if provider == "twilio"
                    else "a 46elks number of yours in E.164 (+46..., +358...)"
                )
                raise ValueError(
                    f"{which} sends SMS from {programme.sms_sender!r}, an alphanumeric sender "
                    f"that cannot receive replies at {provider}, yet its SMS asks for "
                    f"a 0-10 reply and STOP: use {instead} as its sms_sender"
                )

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> CommonSettings:
        if self.env == "production":
            sandbox = "sandbox" in self.sms_providers
            left = [
                f"PALAUTE_{name.upper()}"
                for name in self.SECRETS
                if getattr(self, name) == type(self).model_fields[name].default
                and (sandbox or name not in self.SANDBOX_SECRETS)
            ]
            if left:
                raise ValueError(
                    f"{', '.join(left)} still {'has its' if len(left) == 1 else 'have their'} "
                    "development value; production (PALAUTE_ENV=production) needs your own"
                )
        return self

    @property
    def peppers(self) -> Keyring:
        """PALAUTE_RECIPIENT_PEPPER's keys: the current one pseudonymises, all match."""
        return Keyring.parse(self.recipient_pepper)

    def pseudonym(self, value: str) -> str:
        """The keyed pseudonym of a value (an SMS number, a customer id) written now."""
        return recipient_ref(self.peppers.current, value)

    def pseudonyms(self, value: str) -> list[str]:
        """Its pseudonyms under every pepper still listed, the current one first: what a
        pseudonym written under any of them may be."""
        return [recipient_ref(p, value) for p in self.peppers.secrets]

    def clock(self) -> Clock:
        """The service's clock (moved when PALAUTE_CLOCK_START is set)."""
        return Clock(self.clock_start)

    def sqlite_url(self, service: str) -> str:
        """The embedded default database of one service: a SQLite file in the data folder."""
        return f"sqlite+aiosqlite:///{self.data_dir / f'{service}.db'}"
