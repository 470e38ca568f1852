"""Identifiers validated at the edge: phone numbers (E.164), emails, languages."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from typing import TYPE_CHECKING, Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)

if TYPE_CHECKING:
    import phonenumbers

# A BCP 47 language tag: as the CRM sends it (`fi`, `sv-FI`, `pl-PL`), and as the services
# carry the language a survey is in (the tag of its catalogue: palaute_runtime.i18n). The
# catalogues' folders and the privacy notice's links are named by the same pattern.
LANGUAGE_TAG = r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*"
Language = Annotated[
    str,
    StringConstraints(pattern=f"^{LANGUAGE_TAG}$", max_length=35),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{LANGUAGE_TAG}$",
            "maxLength": 35,
            "description": "BCP 47 language tag, such as fi, sv-FI or pl-PL",
        }
    ),
]

DEFAULT_REGION = "FI"


def normalize_phone(value: str, info: ValidationInfo) -> str:
    """Parse a phone number (national numbers in the context's default region) to E.164."""
    import phonenumbers  # its metadata takes a third of a second: loaded on first use

    region = (info.context or {}).get("default_region", DEFAULT_REGION)
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    _remember_parsed(e164, parsed)
    return e164


def normalize_email(value: str) -> str:
    """Check an email address's syntax and return its normalized form (no DNS lookup)."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


PhoneNumber = Annotated[
    str,
    AfterValidator(normalize_phone),
    WithJsonSchema({"type": "string", "description": "phone number; carried as E.164"}),
]
EmailAddress = Annotated[
    str,
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email"}),
]


@cache
def _sms_capable_types() -> tuple[int, ...]:
    import phonenumbers

    return (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


# E.164 → the parsed number, kept where a number is parsed anyway: parsing is the costliest
# step of a ContactClosed, and the rules ask about the same number right after validation.
_PARSED: dict[str, phonenumbers.PhoneNumber] = {}
_PARSED_MAX = 100_000


def _remember_parsed(e164: str, parsed: phonenumbers.PhoneNumber) -> None:
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[e164] = parsed


def phone_number(e164: str) -> phonenumbers.PhoneNumber:
    """The parsed form of a validated E.164 number (parsed once per process where possible)."""
    import phonenumbers

    parsed = _PARSED.get(e164)
    if parsed is None:
        parsed = phonenumbers.parse(e164)
        _remember_parsed(e164, parsed)
    return parsed


def is_mobile_number(e164: str) -> bool:
    """True when an E.164 number can receive SMS (mobile, or a plan that does not tell)."""
    import phonenumbers

    return phonenumbers.number_type(phone_number(e164)) in _sms_capable_types()


def recipient_ref(pepper: str, address: str) -> str:
    """A keyed pseudonym of an address, so the collector can map SMS replies without the number."""
    return hmac.new(pepper.encode(), address.encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """The only stored form of a survey token: sha256, hex. Dispatcher and collector agree."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_phone(raw: str, default_region: str = DEFAULT_REGION) -> str:
    """Validate a phone number outside a model; ValueError with a short reason when invalid."""
    try:
        return _PHONE.validate_python(raw, context={"default_region": default_region})
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


def parse_email(raw: str) -> str:
    """Validate an email address outside a model; ValueError with a short reason when invalid."""
    try:
        return _EMAIL.validate_python(raw)
    except ValidationError as exc:
        raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


_PHONE: TypeAdapter[str] = TypeAdapter(PhoneNumber)
_EMAIL: TypeAdapter[str] = TypeAdapter(EmailAddress)
