"""The OpenAPI schema that providers and casinos code against is generated without a warning:
drf-spectacular's warnings are where a view's documentation and its code part."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/api/v1/wallet/debit" in (tmp_path / "schema.yml").read_text()


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _operation(schema, path, method):
    return schema["paths"][path][method]


def _parameter(operation, name):
    return next(p for p in operation["parameters"] if p["name"] == name)


def test_the_wallet_callbacks_take_json_bodies_only(schema):
    """Found by schemathesis: the schema offered form and multipart bodies, which the callbacks
    (parsing the raw, signed bytes as JSON) refuse as VALIDATION_ERROR."""
    for name in ("authenticate", "balance", "debit", "credit", "rollback"):
        content = _operation(schema, f"/api/v1/wallet/{name}", "post")["requestBody"]["content"]
        assert list(content) == ["application/json"], name


def test_the_schema_states_the_bounds_the_code_holds_to(schema):
    """Found by schemathesis (positive_data_acceptance): values the schema allowed and the code
    refuses as VALIDATION_ERROR: `limit` outside 1-200, a reference or a currency of other
    characters."""
    limit = _parameter(_operation(schema, "/api/v1/players/{player_id}/transactions", "get"), "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)
    reference = _parameter(
        _operation(schema, "/api/v1/players/{player_id}/withdrawals/{reference}", "get"), "reference"
    )
    assert reference["schema"]["pattern"] == "^[A-Za-z0-9._:-]{1,128}$"
    limit_path = "/api/v1/players/{player_id}/loss-limits/{currency}/{period}"
    assert _parameter(_operation(schema, limit_path, "put"), "currency")["schema"]["pattern"] == "^[A-Z]{3}$"


def test_an_operator_body_that_refuses_unknown_fields_says_so(schema):
    """Found by schemathesis (positive_data_acceptance): an operator body with a field it does
    not know is VALIDATION_ERROR, which the schema now says (`additionalProperties: false`); the
    wallet's bodies stay open, since the contract grows by optional fields."""
    components = schema["components"]["schemas"]
    for name in ("CashierInput", "WithdrawalInput", "LimitSetInput", "PlayerInput", "ReasonInput", "RestrictionInput"):
        assert components[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in components["DebitInput"]


@pytest.mark.django_db
def test_the_schema_is_served_to_a_caller_sending_its_operator_key(client):
    """Found pointing schemathesis at /api/schema/ with the operator's header: DRF's token
    authentication took the operator key for one of its own and answered 401 "Invalid token"."""
    for path in ("/api/schema/", "/api/docs/"):
        assert client.get(path, headers={"Authorization": "Token sandbox-operator-token"}).status_code == 200, path
