"""Staff sign-in's second factor (casino_platform.second_factor), over HTTP as a browser signs
in: after the password the back office asks for a code from an authenticator app, set up at
the first sign-in, or a backup code; nothing in the back office answers before it passes."""

import io
import re
import threading
import time
from base64 import b32decode, b32encode
from html import unescape

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from casino_platform.tests.test_staff_sign_in import PASSWORD, sign_in
from wallet.tests.factories import funded_wallet

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def app_code(key: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app holding `key` (as the set-up page shows it) makes now, or
    that many 30-second steps later."""
    totp = TOTP(b32decode(key.replace(" ", "")))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def post_code(base: str, browser: requests.Session, code: str, next_url: str = "/admin/") -> requests.Response:
    page = browser.get(f"{base}/admin/second-factor/?next={next_url}", timeout=10)
    return browser.post(
        f"{base}/admin/second-factor/",
        data={"csrfmiddlewaretoken": CSRF.search(page.text).group(1), "code": code, "next": next_url},
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )


def in_the_back_office(base: str, browser: requests.Session) -> bool:
    return browser.get(f"{base}/admin/", allow_redirects=False, timeout=10).status_code == 200


def set_up_app(base: str, browser: requests.Session) -> tuple[str, list[str]]:
    """Set up an authenticator app on the page a first sign-in shows: its key and the backup codes."""
    page = browser.get(f"{base}/admin/second-factor/", timeout=10)
    key = unescape(re.search(r"<code>([A-Z2-7 ]+)</code>", page.text).group(1))
    done = post_code(base, browser, app_code(key))
    assert done.status_code == 200, done.text
    return key, re.findall(r"<li><code>([a-z2-7]{8})</code></li>", done.text)


@pytest.mark.django_db(transaction=True)
def test_a_first_sign_in_sets_up_the_app_and_later_ones_ask_for_its_code(live_server, plain_http):
    User.objects.create_user("ana", password=PASSWORD, is_staff=True, is_superuser=True)
    base = live_server.url

    browser, password = sign_in(base, "ana", PASSWORD)
    assert password.status_code == 302 and password.headers["Location"] == "/admin/second-factor/?next=/admin/"
    # Nothing in the back office answers yet: each page sends the browser to the second factor.
    answer = browser.get(f"{base}/admin/wallet/wallet/", timeout=10)
    assert answer.url.startswith(f"{base}/admin/second-factor/") and "Set up your second factor" in answer.text
    assert 'src="data:image/svg+xml;base64,' in answer.text  # the QR code, nothing fetched from elsewhere
    assert not in_the_back_office(base, browser)

    wrong = post_code(base, browser, "000000")
    assert wrong.status_code == 200 and "is not the code your authenticator app shows now" in wrong.text
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    time.sleep(1.1)  # a wrong code makes the next wait a second (the throttle)

    key, backup_codes = set_up_app(base, browser)
    assert len(backup_codes) == 10 and len(set(backup_codes)) == 10
    assert in_the_back_office(base, browser)
    assert browser.get(f"{base}/admin/wallet/wallet/", allow_redirects=False, timeout=10).status_code == 200

    # The next sign-in asks for the app's code, and takes each code once.
    later, password = sign_in(base, "ana", PASSWORD)
    assert "Type the six-digit code" in later.get(f"{base}/admin/second-factor/", timeout=10).text
    used = post_code(base, later, app_code(key))
    assert used.status_code == 200 and "is not the code" in used.text  # the set-up's code, used
    assert not in_the_back_office(base, later)
    time.sleep(1.1)
    password_only = later.cookies[settings.SESSION_COOKIE_NAME]
    passed = post_code(base, later, app_code(key, steps_ahead=1), next_url="/admin/wallet/wallet/")
    assert passed.status_code == 302 and passed.headers["Location"] == "/admin/wallet/wallet/"
    assert in_the_back_office(base, later)
    # The session has a new key: a copy of the cookie taken before the code is worth nothing.
    copied = requests.Session()
    copied.cookies.set(settings.SESSION_COOKIE_NAME, password_only)
    assert later.cookies[settings.SESSION_COOKIE_NAME] != password_only and not in_the_back_office(base, copied)

    # A backup code instead, once.
    lost_phone, _ = sign_in(base, "ana", PASSWORD)
    answer = post_code(base, lost_phone, backup_codes[0].upper())
    assert answer.status_code == 302
    assert "9 are left" in lost_phone.get(f"{base}/admin/", timeout=10).text
    again, _ = sign_in(base, "ana", PASSWORD)
    refused = post_code(base, again, backup_codes[0])
    assert refused.status_code == 200 and "it was used before" in refused.text
    assert not in_the_back_office(base, again)


@pytest.mark.django_db(transaction=True)
def test_a_page_that_moves_money_answers_nothing_before_the_second_factor(live_server, plain_http):
    User.objects.create_user("ana", password=PASSWORD, is_staff=True, is_superuser=True)
    wallet = funded_wallet(amount=1_000)
    browser, _ = sign_in(live_server.url, "ana", PASSWORD)
    page = browser.get(f"{live_server.url}/admin/second-factor/", timeout=10)
    move = browser.post(
        f"{live_server.url}/admin/wallet/wallet/{wallet.pk}/move/",
        data={"csrfmiddlewaretoken": CSRF.search(page.text).group(1), "kind": "deposit", "amount": "50.00"},
        headers={"Referer": page.url},
        allow_redirects=False,
        timeout=10,
    )
    assert move.status_code == 302 and move.headers["Location"].startswith("/admin/login/")
    wallet.refresh_from_db()
    assert wallet.balance == 1_000


@pytest.mark.django_db(transaction=True)
def test_a_backup_code_signs_in_once_when_two_sign_ins_race_with_it(live_server, plain_http):
    user = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    StaticToken.objects.create(device=device, token="abcdefgh")
    browsers = [sign_in(live_server.url, "ana", PASSWORD)[0] for _ in range(2)]
    pages = [b.get(f"{live_server.url}/admin/second-factor/", timeout=10) for b in browsers]
    start = threading.Barrier(2)
    answers: list[int] = []

    def use_the_code(browser: requests.Session, page: requests.Response) -> None:
        start.wait()
        answers.append(
            browser.post(
                page.url,
                data={"csrfmiddlewaretoken": CSRF.search(page.text).group(1), "code": "abcdefgh", "next": "/admin/"},
                headers={"Referer": page.url},
                allow_redirects=False,
                timeout=10,
            ).status_code
        )

    racers = [threading.Thread(target=use_the_code, args=pair) for pair in zip(browsers, pages, strict=True)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    assert sorted(answers) == [200, 302]  # one in, the other refused
    assert sum(in_the_back_office(live_server.url, b) for b in browsers) == 1
    assert not StaticToken.objects.exists()


@pytest.mark.django_db
def test_a_wrong_code_makes_the_next_wait_and_says_how_long():
    user = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    browser = Client()
    assert browser.post("/admin/login/", {"username": "ana", "password": PASSWORD}).status_code == 302
    key = b32encode(device.bin_key).decode()

    assert "is not the code" in browser.post("/admin/second-factor/", {"code": "000000"}).content.decode()
    answer = browser.post("/admin/second-factor/", {"code": app_code(key)}).content.decode()
    assert "Too many wrong codes: the next one is checked in 1 second." in answer
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # the right code, refused while waiting, is not a failure


@pytest.mark.django_db
def test_a_reset_ends_the_sessions_access_and_the_next_sign_in_sets_up_again(client, admin_user):
    client.force_login(admin_user)  # the second factor passed (conftest)
    assert client.get("/admin/").status_code == 200

    out = io.StringIO()
    call_command("second_factor_reset", admin_user.username, stdout=out)
    assert "set up a new app at their next sign-in" in out.getvalue()

    answer = client.get("/admin/", follow=True)
    assert answer.redirect_chain[-1][0].startswith("/admin/second-factor/")
    assert "Set up your second factor" in answer.content.decode()


@pytest.mark.django_db
def test_the_second_factor_page_signs_out_and_is_nobodys_without_a_password():
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    stranger = Client()
    assert stranger.get("/admin/second-factor/").headers["Location"].startswith("/admin/login/")

    browser = Client()
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    assert browser.post("/admin/second-factor/", {"sign_out": "1"}).headers["Location"] == "/admin/login/"
    assert browser.get("/admin/second-factor/").headers["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_new_backup_codes_void_the_old(client, admin_user):
    client.force_login(admin_user)
    page = "/admin/second-factor/backup-codes/"
    first = re.findall(r"<code>([a-z2-7]{8})</code>", client.post(page).content.decode())
    assert "10</strong> backup codes left" in client.get(page).content.decode()
    second = re.findall(r"<code>([a-z2-7]{8})</code>", client.post(page).content.decode())
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(second)
    assert 'href="/admin/second-factor/backup-codes/"' in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_with_the_second_factor_off_the_password_lets_staff_in(settings):
    settings.STAFF_SECOND_FACTOR = False
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    browser = Client()
    assert (
        browser.post("/admin/login/?next=/admin/", {"username": "ana", "password": PASSWORD}).headers["Location"]
        == "/admin/"
    )
    page = browser.get("/admin/")
    assert page.status_code == 200 and "Backup codes" not in page.content.decode()


@pytest.mark.django_db
def test_metrics_count_staff_failing_the_second_factor_and_staff_without_one(client):
    from casino_platform.tests.test_metrics import scrape

    ana = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    User.objects.create_user("ben", password=PASSWORD, is_staff=True)
    User.objects.create_user("cleo", password=PASSWORD, is_staff=False)  # not staff: not counted
    TOTPDevice.objects.create(user=ana, name="Authenticator app", confirmed=True)
    StaticToken.objects.create(device=StaticDevice.objects.create(user=ana, name="Backup codes"), token="abcdefgh")
    samples = scrape(client)
    assert samples[("staff_without_second_factor", frozenset())] == 1  # ben
    assert samples[("staff_second_factor_failing", frozenset())] == 0

    browser = Client()
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    browser.post("/admin/second-factor/", {"code": "000000"})
    time.sleep(1.1)
    browser.post("/admin/second-factor/", {"code": "zzzzzzzz"})  # a backup code's form: checked against those
    samples = scrape(client)
    assert samples[("staff_second_factor_failing", frozenset())] == 1  # one member of staff, twice
