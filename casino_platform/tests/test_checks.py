"""`manage.py check --deploy` refuses the embedded default of `make run` and warns of an open
/metrics and of a back office without the second factor, with DEBUG off only: `make run` and
the embedded smoke test run with DEBUG on."""

import pytest
from django.core.checks import Tags, run_checks

EMBEDDED_IDS = {"casino_platform.E001", "casino_platform.E002", "casino_platform.E003"}


def deploy_check_ids() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True, tags=[Tags.security])}


@pytest.fixture
def embedded(settings, monkeypatch):
    """The settings `make run` gets without DATABASE_URL and REDIS_URL."""
    # In place and undone after: assigning DATABASES anew is what Django warns against in tests.
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.METRICS_TOKEN = ""
    return settings


def test_a_deployment_on_the_embedded_default_is_refused(embedded):
    embedded.DEBUG = False
    assert EMBEDDED_IDS | {"casino_platform.W001"} <= deploy_check_ids()


def test_the_embedded_default_with_debug_on_is_not(embedded):
    # bin/run and bin/smoke-embedded set DEBUG=1.
    embedded.DEBUG = True
    assert not (EMBEDDED_IDS | {"casino_platform.W001"}) & deploy_check_ids()


def test_each_embedded_service_is_named_apart(embedded):
    embedded.DEBUG = False
    embedded.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    assert EMBEDDED_IDS & deploy_check_ids() == {"casino_platform.E001", "casino_platform.E003"}


def test_a_deployment_on_postgresql_and_redis_passes(settings):
    # The suite's own settings: PostgreSQL, Redis as broker and cache.
    settings.DEBUG = False
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert not (EMBEDDED_IDS | {"casino_platform.W001"}) & deploy_check_ids()


def test_an_open_metrics_endpoint_is_warned(settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = ""
    assert "casino_platform.W001" in deploy_check_ids()


def test_a_back_office_without_the_second_factor_is_warned(settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = "s3cret-metrics"
    assert "casino_platform.W002" not in deploy_check_ids()  # on by default
    settings.STAFF_SECOND_FACTOR = False
    assert "casino_platform.W002" in deploy_check_ids()


@pytest.mark.parametrize("hours", [0, 10 * 366 * 24 + 1])
def test_a_set_up_time_of_no_time_or_no_bound_is_refused(settings, hours):
    assert "casino_platform.E004" not in deploy_check_ids()  # 72 hours by default
    settings.STAFF_SECOND_FACTOR_SET_UP_HOURS = hours
    assert "casino_platform.E004" in {m.id for m in run_checks(tags=[Tags.security])}
    settings.STAFF_SECOND_FACTOR = False  # behind a single sign-on: no set-up at all
    assert "casino_platform.E004" not in {m.id for m in run_checks(tags=[Tags.security])}
