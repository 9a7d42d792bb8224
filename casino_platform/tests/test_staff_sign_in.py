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
    """Whether the browser's password was accepted: the back office then asks it for the second
    factor (casino_platform/tests/test_second_factor.py), which is refused to anyone else."""
    return browser.get(f"{base}/admin/second-factor/", allow_redirects=False, timeout=10).status_code == 200


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
    assert office.get("/admin/second-factor/").status_code == 200  # the password passed


@pytest.mark.django_db
def test_a_staff_session_ends_after_its_idle_minutes_and_requests_move_the_end_on(client, admin_user):
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert idle == timedelta(minutes=15)
    client.force_login(admin_user)  # seen at sign-in
    soon = timezone.now() + timedelta(minutes=1)
    Session.objects.update(expire_date=soon)

    assert client.get("/admin/").status_code == 200
    assert Session.objects.get().expire_date == soon  # within the minute of the last save: no write

    session = client.session
    session["staff_seen_at"] -= 61  # as if signed in a minute ago
    session.save()
    Session.objects.update(expire_date=soon)
    assert client.get("/admin/").status_code == 200
    assert Session.objects.get().expire_date > timezone.now() + idle - timedelta(minutes=1)  # moved on

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))  # left alone that long
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_a_request_with_an_unknown_session_cookie_writes_no_session():
    stranger = Client()
    stranger.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    for path in ("/health", "/metrics", "/api/v1/games", "/admin/login/"):
        stranger.get(path)
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_a_nul_in_a_sign_in_header_is_refused_before_it_is_recorded():
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    guesser = Client(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="bot\x00")
    answers = [guesser.post("/admin/login/", {"username": "ana", "password": "guess"}).status_code for _ in range(3)]
    assert answers == [400, 400, 400]
    assert not AccessAttempt.objects.exists()


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_appended(rf, settings):
    request = rf.post("/admin/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert staff_sign_in_address(request) == "10.0.0.2"  # no proxy: the connection's, the header unread
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert staff_sign_in_address(request) == "198.51.100.7"  # not the forged first one
    assert staff_sign_in_address(rf.post("/admin/login/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"
    # A proxy that appends its client's port: no address, so the connection's (not a 500).
    with_port = rf.post("/admin/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7:51234")
    assert staff_sign_in_address(with_port) == "10.0.0.2"


@pytest.mark.django_db
def test_metrics_count_the_lockouts_and_the_recent_wrong_passwords(client):
    from casino_platform.tests.test_metrics import scrape

    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR="203.0.113.9").post("/admin/login/", {"username": "ana", "password": "guess"})
    for _ in range(2):
        Client(REMOTE_ADDR="198.51.100.7").post("/admin/login/", {"username": "ben", "password": "guess"})
    # A guesser changing browser at each guess is locked out on the sum of their rows: one lockout.
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR="192.0.2.1", HTTP_USER_AGENT=f"browser {attempt}").post(
            "/admin/login/", {"username": "cleo", "password": "guess"}
        )

    samples = scrape(client)
    assert samples[("staff_sign_in_locked_out", frozenset())] == 2
    assert samples[("staff_sign_in_failures_recent", frozenset())] == 2 * settings.AXES_FAILURE_LIMIT + 2

    long_ago = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=long_ago)
    samples = scrape(client)
    assert samples[("staff_sign_in_locked_out", frozenset())] == 0
    assert samples[("staff_sign_in_failures_recent", frozenset())] == 0


@pytest.mark.django_db
def test_the_nightly_housekeeping_deletes_ended_sessions_and_failures_past_their_year(client, admin_user):
    from axes.models import AccessFailureLog

    from casino_platform.tasks import staff_sign_in_housekeeping_task

    client.force_login(admin_user)
    live = Session.objects.get()
    Session.objects.create(session_key="e" * 32, session_data="", expire_date=timezone.now() - timedelta(seconds=1))
    for attempt in range(3):
        Client(REMOTE_ADDR="203.0.113.9").post("/admin/login/", {"username": f"user{attempt}", "password": "guess"})
    old = AccessFailureLog.objects.order_by("id").first()
    AccessFailureLog.objects.filter(pk=old.pk).update(
        attempt_time=timezone.now() - timedelta(days=settings.STAFF_SIGN_IN_LOG_DAYS, seconds=1)
    )

    assert staff_sign_in_housekeeping_task() == {"sessions": 1, "failures": 1}

    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert AccessFailureLog.objects.count() == 2 and not AccessFailureLog.objects.filter(pk=old.pk).exists()
