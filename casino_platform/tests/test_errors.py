import logging

import pytest
from django.db import OperationalError
from rest_framework.test import APIRequestFactory

from casino_platform.api import exception_handler
from casino_platform.errors import error_class_for_code
from casino_platform.tracing import JsonFormatter, TraceIdFilter, trace_id_var

CONTRACT_CODES = {
    "VALIDATION_ERROR": 400,
    "INVALID_SIGNATURE": 401,
    "UNKNOWN_PROVIDER": 401,
    "STALE_TIMESTAMP": 401,
    "SESSION_EXPIRED": 401,
    "SESSION_NOT_FOUND": 401,
    "INSUFFICIENT_FUNDS": 402,
    "IP_NOT_ALLOWED": 403,
    "PROVIDER_DISABLED": 403,
    "PLAYER_BLOCKED": 403,
    "RG_LIMIT": 403,
    "PLAYER_NOT_FOUND": 404,
    "GAME_NOT_FOUND": 404,
    "ROUND_NOT_FOUND": 404,
    "IDEMPOTENCY_MISMATCH": 409,
    "ROUND_CLOSED": 409,
    "ROLLBACK_NOT_ALLOWED": 409,
    "TRANSACTION_ROLLED_BACK": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "CURRENCY_MISMATCH": 422,
    "RATE_LIMITED": 429,
    "MAINTENANCE": 503,
    "SERVICE_UNAVAILABLE": 503,
}


def test_every_contract_code_has_one_error_class_with_its_status_and_retry_flag():
    import players.errors  # noqa: F401

    for code, status in CONTRACT_CODES.items():
        cls = error_class_for_code(code)
        assert cls.http_status == status, code
        assert cls.retryable is (code in {"RATE_LIMITED", "MAINTENANCE", "SERVICE_UNAVAILABLE"}), code


def _context(trace_id="t-1"):
    request = APIRequestFactory().post("/api/v1/wallet/debit")
    request.trace_id = trace_id
    return {"request": request}


def test_transient_database_failure_is_a_retryable_503(caplog):
    response = exception_handler(OperationalError("connection lost"), _context())
    assert response.status_code == 503
    assert response.data["code"] == "SERVICE_UNAVAILABLE"
    assert response.data["retryable"] is True and response.data["trace_id"] == "t-1"
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_a_bug_is_a_logged_500_in_the_contract_shape(caplog):
    response = exception_handler(KeyError("oops"), _context())
    assert response.status_code == 500
    assert response.data["code"] == "INTERNAL_ERROR" and response.data["retryable"] is False
    assert response.data["trace_id"] == "t-1"
    # Logged once: a bug is someone's to look at (the log line carries the request's trace id).
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged == ["unexpected error answering a request"]


def test_unknown_api_path_is_json_404(client):
    r = client.post("/api/v1/wallet/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


@pytest.mark.django_db
def test_wrong_method_is_json_405(client):
    r = client.get("/api/v1/wallet/debit")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"


def test_log_lines_are_json_with_the_trace_id():
    import json

    record = logging.LogRecord("wallet", logging.INFO, __file__, 1, "debit %s", ("ok",), None)
    token = trace_id_var.set("trace-xyz")
    try:
        TraceIdFilter().filter(record)
    finally:
        trace_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == "trace-xyz" and line["message"] == "debit ok" and line["level"] == "INFO"
