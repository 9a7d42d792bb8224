"""Staff sign-in to the back office (settings: django-axes, the session's idle end), over HTTP
as a browser signs in: a password is not guessed at leisure, and an unattended session ends."""

import io
import re
from datetime import timedelta

import pytest
import requests
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from casino_platform.sign_in import staff_sign_in_address

PASSWORD = "a-long-staff-password-42"


@pytest.fixture
def plain_http(settings):
    """The live server speaks HTTP without TLS, over which a client sends no secure cookie."""
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False


def sign_in(base: str, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    form = browser.get(f"{base}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = browser.post(
        f"{base}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"},
        allow_redirects=False,
        timeout=10,
    )
    return browser, answer


def signed_in(base: str, browser: requests.Session) -> bool:
    return browser.get(f"{base}/admin/", allow_redirects=False, timeout=10).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_wrong_passwords_lock_the_username_out_from_that_address_until_lifted(live_server, plain_http):
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    User.objects.create_user("ben", password=PASSWORD, is_staff=True)
    base = live_server.url

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(base, "ana", "guess")[1].status_code == 200  # the form again, with its error
    browser, last_guess = sign_in(base, "ana", "guess")
    assert last_guess.status_code == 429

    browser, right = sign_in(base, "ana", PASSWORD)
    assert right.status_code == 429 and "locked" in right.text.lower()
    assert not signed_in(base, browser)
    # A colleague at the same address is not locked out by ana's failures.
    colleague, answer = sign_in(base, "ben", PASSWORD)
    assert answer.status_code == 302 and signed_in(base, colleague)

    out = io.StringIO()
    call_command("axes_reset_username", "ana", stdout=out)
    browser, answer = sign_in(base, "ana", PASSWORD)
    assert answer.status_code == 302 and signed_in(base, browser)
    assert not AccessAttempt.objects.filter(username="ana").exists()  # a success forgets the failures


@pytest.mark.django_db(transaction=True)
def test_a_lockout_ends_after_its_cool_off(live_server, plain_http):
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(live_server.url, "ana", "guess")
    assert sign_in(live_server.url, "ana", PASSWORD)[1].status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    browser, answer = sign_in(live_server.url, "ana", PASSWORD)
    assert answer.status_code == 302 and signed_in(live_server.url, browser)


@pytest.mark.django_db
def test_the_same_username_from_another_address_is_not_locked_out():
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/admin/login/", {"username": "ana", "password": "guess"})
    assert attacker.post("/admin/login/", {"username": "ana", "password": PASSWORD}).status_code == 429

    office = Client(REMOTE_ADDR="198.51.100.7")
    assert office.post("/admin/login/?next=/admin/", {"username": "ana", "password": PASSWORD}).status_code == 302
    assert office.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_staff_session_ends_after_its_idle_minutes_and_each_request_moves_the_end_on(client, admin_user):
    client.force_login(admin_user)
    session = Session.objects.get()
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert idle == timedelta(minutes=15)
    Session.objects.update(expire_date=timezone.now() + timedelta(minutes=1))

    assert client.get("/admin/").status_code == 200

    session.refresh_from_db()
    assert session.expire_date > timezone.now() + idle - timedelta(minutes=1)  # moved on by the request
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))  # left alone that long
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_appended(rf, settings):
    request = rf.post("/admin/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert staff_sign_in_address(request) == "10.0.0.2"  # no proxy: the connection's, the header unread
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert staff_sign_in_address(request) == "198.51.100.7"  # not the forged first one
    assert staff_sign_in_address(rf.post("/admin/login/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


@pytest.mark.django_db
def test_metrics_count_the_lockouts_and_the_recent_wrong_passwords(client):
    from axes.models import AccessFailureLog

    from casino_platform.tests.test_metrics import scrape

    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR="203.0.113.9").post("/admin/login/", {"username": "ana", "password": "guess"})
    for _ in range(2):
        Client(REMOTE_ADDR="198.51.100.7").post("/admin/login/", {"username": "ben", "password": "guess"})

    samples = scrape(client)
    assert samples[("staff_sign_in_locked_out", frozenset())] == 1
    assert samples[("staff_sign_in_failures_recent", frozenset())] == settings.AXES_FAILURE_LIMIT + 2

    long_ago = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=long_ago)
    AccessFailureLog.objects.update(attempt_time=long_ago)
    samples = scrape(client)
    assert samples[("staff_sign_in_locked_out", frozenset())] == 0
    assert samples[("staff_sign_in_failures_recent", frozenset())] == 0
