"""Every operation of the OpenAPI schema, fuzzed from the schema itself by schemathesis: its
coverage phase's edge cases and a dozen derandomized examples each, schema-valid and
schema-violating, signed like a provider's calls on the wallet paths (api_fuzz_hooks.py). No
answer is a 500, every answer has a status, a content type, headers and a body the schema
names for it, and a request the schema says is invalid is refused. `make fuzz-api` runs the
same hooks longer against a real server."""

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
import schemathesis
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from casino_platform.tests import api_fuzz_hooks

pytestmark = pytest.mark.django_db

BASE_URL = "http://testserver"
TOKEN = "Token sandbox-operator-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# The coverage phase's cases name what they leave out or send instead: a required header, a
# method the path does not take.
EDGE_CHECKS = [*CHECKS, missing_required_header, unsupported_method]


def _schema() -> Any:
    import orjson

    raw = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    loaded = schemathesis.openapi.from_dict(orjson.loads(raw))
    loaded.config.update(base_url=BASE_URL)
    return loaded


SCHEMA = _schema()
OPERATIONS = sorted(
    (op.path, op.method.upper()) for result in SCHEMA.get_all_operations() if (op := result.ok()) is not None
)


def _send(client: Any, case: Any) -> schemathesis.Response:
    """The case over Django's test client (in the test's transaction), as schemathesis sees it."""
    kwargs: dict[str, Any] = {}
    if "Authorization" in (case.headers or {}):  # the operator key: a case drawn without it is sent without
        case.headers = {**case.headers, "Authorization": TOKEN}
    api_fuzz_hooks.wallet_call_signed(case, kwargs)
    sent = case.as_transport_kwargs(base_url=BASE_URL)
    if "data" in kwargs:
        body = kwargs["data"]
    elif "json" in sent:
        body = json.dumps(sent["json"]).encode()
    else:
        body = sent.get("data") or b""
    headers = {k: str(v) for k, v in sent["headers"].items()}
    content_type = headers.pop("Content-Type", "application/json")
    url = urlsplit(sent["url"])
    query = urlencode(sent.get("params") or {}, doseq=True)
    path = url.path + ("?" + query if query else "")
    r = client.generic(case.method, path, data=body, content_type=content_type, headers=headers)
    request = requests.Request(case.method, BASE_URL + path, headers=headers, data=body).prepare()
    response_headers = {name.lower(): [value] for name, value in r.headers.items()}
    return schemathesis.Response(
        status_code=r.status_code,
        headers=response_headers,
        content=r.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )


@pytest.fixture
def sandbox(db):
    from wallet.tests.api_client import launch

    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    api_fuzz_hooks.KNOWN["session_token"][:] = [launch("p_demo_1"), launch("p_low_balance")]
    yield
    api_fuzz_hooks.KNOWN["session_token"][:] = []


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_operation_keeps_to_its_schema_at_its_edges(client, sandbox, path, method):
    """schemathesis's coverage phase: deterministic cases at each parameter's edges (empty,
    too long, of the wrong type, left out), required headers left out, other methods."""
    operation = SCHEMA[path][method]
    cases = SCHEMA.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=SCHEMA.config.generation_for(operation=operation),
    )
    failures = []
    for case in cases:
        try:
            case.validate_response(_send(client, case), checks=EDGE_CHECKS)
        except AssertionError as exc:  # schemathesis's failures are AssertionErrors, grouped
            failures.append(f"{case.method} {case.formatted_path} query={case.query}: {exc}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_operation_keeps_to_its_schema(client, sandbox, path, method):
    """schemathesis's fuzzing phase, a few derandomized examples, valid and not."""
    operation = SCHEMA[path][method]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.body or operation.query or operation.path_parameters:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=12,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def fuzz(case):
        case.validate_response(_send(client, case), checks=CHECKS)

    fuzz()
