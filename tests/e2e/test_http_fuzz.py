"""Schemathesis against each HTTP surface's own OpenAPI document (`/openapi.json`), over real
HTTP on the running stack, with a bounded budget: no input gets a 5xx, and every response
carries the security headers."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.schemas import BaseSchema

from tests.e2e.conftest import Pipeline

BUDGET = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same inputs on every run: a failure can be reproduced
)


def surface(pipeline: Pipeline, name: str) -> tuple[str, dict[str, str]]:
    """A surface's base URL and the credentials a legitimate caller of it has."""
    stack = pipeline.stack
    if name == "collector":
        secret = stack.collector_settings.partner_webhook_secret
        return stack.collector_url, {"Authorization": f"Bearer {secret}"}
    if name == "sandbox":
        return stack.sandbox_url, {"Authorization": "Bearer sandbox-key"}
    if name.endswith("-ops"):  # a service's operations port: health and metrics
        return stack.ops_urls[name.removesuffix("-ops")], {}
    return stack.http_urls[name], {}


def load(pipeline: Pipeline, name: str) -> BaseSchema:
    url, _ = surface(pipeline, name)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    # Faults and injected replies would disturb the other tests sharing this stack.
    return schema.exclude(path_regex="^/sandbox/(faults|inbound-sms)$")


def check(case: Any, pipeline: Pipeline, name: str) -> None:
    url, credentials = surface(pipeline, name)
    response = case.call(base_url=url, headers=credentials, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    # The officer's workspace: without credentials, nothing but the sign-in page (and its
    # form, which refuses a post without its CSRF cookie).
    if (
        name == "consent"
        and case.path.startswith(("/api/", "/officer/", "/officer"))
        and (case.path != "/officer/sign-in")
    ):
        assert response.status_code == 401, f"{case.method} {case.path} without credentials"
    headers = {key.lower(): values[0] for key, values in response.headers.items()}
    assert headers.get("x-content-type-options") == "nosniff"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", "")
    assert "server" not in headers


SURFACES = ["consent", "dispatcher", "collector", "sandbox"]
OPERATIONS = ["consent-ops", "dispatcher-ops", "collector-ops"]


# The operations ports take no parameters and no body: a few cases say all there is.
OPERATIONS_BUDGET = settings(BUDGET, max_examples=5)


@pytest.mark.parametrize("name", SURFACES + OPERATIONS)
def test_no_input_gets_a_5xx(pipeline: Pipeline, name: str) -> None:
    operations = [result.ok() for result in load(pipeline, name).get_all_operations()]
    assert operations, f"{name} documents its operations"
    budget = OPERATIONS_BUDGET if name in OPERATIONS else BUDGET
    for operation in operations:

        @budget
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            check(case, pipeline, name)

        fuzz()


async def test_every_surface_publishes_its_openapi_document(pipeline: Pipeline) -> None:
    for name in SURFACES + OPERATIONS:
        url, _ = surface(pipeline, name)
        answer = await pipeline.http.get(f"{url}/openapi.json")
        assert answer.status_code == 200
        paths = set(answer.json()["paths"])
        health = {"/health/live", "/health/ready", "/metrics"}
        if name.endswith("-ops"):
            assert paths == health, name
        elif name != "sandbox":  # the partner's stand-in keeps its own health
            assert not paths & health, f"{name}: operations on the public port"
    collector_paths = (
        await pipeline.http.get(f"{pipeline.stack.collector_url}/openapi.json")
    ).json()["paths"]
    assert set(collector_paths["/s/{token}"]) == {"get", "post"}
    consent_paths = (
        await pipeline.http.get(f"{pipeline.stack.http_urls['consent']}/openapi.json")
    ).json()["paths"]
    assert {"/officer", "/officer/sign-in", "/api/v1/register/add", "/api/v1/audit"} <= set(
        consent_paths
    )
    assert "post" in collector_paths["/partner/sms-inbound"]


async def test_the_consent_api_document_is_exact(pipeline: Pipeline) -> None:
    """What the handlers refuse, the document refuses: the bearer scheme is defined, the
    bodies name their required fields with their types and lengths, GETs take no body."""
    answer = await pipeline.http.get(f"{pipeline.stack.http_urls['consent']}/openapi.json")
    document = answer.json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    add = document["paths"]["/api/v1/register/add"]["post"]["requestBody"]
    schema = add["content"]["application/json"]["schema"]
    assert add["required"] is True
    assert schema["required"] == ["kind", "identifier", "reason"]
    for name in ("identifier", "reason"):
        assert schema["properties"][name] == {"type": "string", "minLength": 1, "maxLength": 500}
    filed = document["paths"]["/api/v1/requests"]["post"]["requestBody"]
    assert filed["content"]["application/json"]["schema"]["properties"]["kind"]["enum"] == [
        "erasure",
        "access",
    ]
    status = document["paths"]["/api/v1/requests/{request_id}"]["get"]
    assert "requestBody" not in status
    assert status["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}


async def test_the_collector_and_dispatcher_documents_are_exact(pipeline: Pipeline) -> None:
    """The partner's two webhooks name the bearer scheme they check, the limits their
    handlers enforce and the answers they give; the survey form says which scores count."""
    stack = pipeline.stack
    collector = (await pipeline.http.get(f"{stack.collector_url}/openapi.json")).json()
    dispatcher = (await pipeline.http.get(f"{stack.http_urls['dispatcher']}/openapi.json")).json()
    inbound = collector["paths"]["/partner/sms-inbound"]["post"]
    receipt = dispatcher["paths"]["/partner/delivery-receipts"]["post"]
    for document, operation in ((collector, inbound), (dispatcher, receipt)):
        assert operation["security"] == [{"bearer": []}]
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    sms = inbound["requestBody"]["content"]["application/json"]["schema"]
    assert sms["required"] == ["from", "text"]
    assert sms["properties"]["from"]["maxLength"] == 64
    assert (sms["properties"]["id"]["minLength"], sms["properties"]["id"]["maxLength"]) == (1, 200)
    answered = inbound["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(answered["properties"]["status"]["enum"]) == {
        "recorded",
        "opted_out",
        "unreadable",
        "held",
        "duplicate",
    }
    body = receipt["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["id", "status"]
    assert (body["properties"]["id"]["minLength"], body["properties"]["id"]["maxLength"]) == (
        1,
        200,
    )
    assert body["properties"]["status"]["enum"] == ["delivered", "undelivered", "expired"]
    # Twilio's webhooks: form-encoded, signed (403 without), in either provider mode.
    for operation in (
        collector["paths"]["/partner/twilio/inbound"]["post"],
        dispatcher["paths"]["/partner/twilio/status"]["post"],
    ):
        assert list(operation["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
        assert "403" in operation["responses"]
    form = collector["paths"]["/s/{token}"]["post"]["requestBody"]["content"]
    fields = form["application/x-www-form-urlencoded"]["schema"]
    assert fields["properties"]["score"]["pattern"] == "^([0-9]|10)$"
    assert fields["properties"]["csat"]["pattern"] == "^[1-5]$"
    assert fields["anyOf"] == [{"required": ["score"]}, {"required": ["csat"]}]
    # What the documents promise, the handlers keep: a sender over 64 characters is refused.
    secret = stack.collector_settings.partner_webhook_secret
    refused = await pipeline.http.post(
        f"{stack.collector_url}/partner/sms-inbound",
        json={"from": "+358" + "4" * 70, "text": "9"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert refused.status_code == 422
