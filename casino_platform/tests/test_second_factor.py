"""Staff sign-in's second factor (casino_platform.second_factor), over HTTP as a browser signs
in: after the password the back office asks for a code from an authenticator app, set up at
the first sign-in, or a backup code; nothing in the back office answers before it passes."""

import importlib
import io
import re
import threading
import time
from base64 import b32decode, b32encode
from datetime import timedelta
from html import unescape

import pytest
import requests
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from casino_platform.models import SecondFactorSetUp
from casino_platform.second_factor import staff_backup_codes_issue, staff_set_up_open_until
from casino_platform.tests.test_staff_sign_in import PASSWORD, sign_in
from wallet.tests.factories import funded_wallet

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def app_code(key: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app holding `key` (as the set-up page shows it) makes now, or
    that many 30-second steps later."""
    totp = TOTP(b32decode(key.replace(" ", "")))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def wait_out_the_throttle(user: User) -> None:
    """As if the wait a wrong code imposes on the next had passed (django-otp's throttle counts
    from the last failure's time, which is moved back rather than slept through)."""
    a_while_ago = timezone.now() - timedelta(seconds=2)
    for device in (TOTPDevice, StaticDevice):
        device.objects.filter(user=user).update(throttling_failure_timestamp=a_while_ago)


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
    wait_out_the_throttle(User.objects.get(username="ana"))  # a wrong code makes the next wait a second

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
    wait_out_the_throttle(User.objects.get(username="ana"))
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
    # Four more wrong codes, as if typed a second apart: the next waits 16 seconds.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=5, throttling_failure_timestamp=timezone.now()
    )
    answer = browser.post("/admin/second-factor/", {"code": app_code(key)}).content.decode()
    assert re.search(r"Too many wrong codes: the next one is checked in 1[67] seconds\.", answer)
    device.refresh_from_db()
    assert device.throttling_failure_count == 5  # the right code, refused while waiting, is not a failure
    assert not browser.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_an_app_is_set_up_with_the_password_alone_only_for_a_while_after_joining_or_a_reset(settings):
    """Past STAFF_SECOND_FACTOR_SET_UP_HOURS, whoever has the password of a member of staff who
    never set up an app cannot set one up; an administrator's reset gives the time again."""
    user = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(hours=73))

    def signed_in() -> Client:
        browser = Client()
        assert browser.post("/admin/login/", {"username": "ana", "password": PASSWORD}).status_code == 302
        return browser

    browser = signed_in()
    page = browser.get("/admin/second-factor/")
    assert page.status_code == 403
    assert "The time to set\n   one up with your password alone ended" in page.content.decode()
    assert "manage.py second_factor_reset ana" in page.content.decode()
    assert browser.post("/admin/second-factor/", {"code": "123456"}).status_code == 403
    assert not TOTPDevice.objects.filter(user=user).exists()  # no key was made, none shown
    assert browser.get("/admin/").status_code == 302

    call_command("second_factor_reset", "ana", stdout=io.StringIO())
    browser = signed_in()
    page = browser.get("/admin/second-factor/")
    assert page.status_code == 200
    assert "Set one up now" in page.content.decode()
    assert TOTPDevice.objects.filter(user=user, confirmed=False).exists()

    # The reset's time runs out as the joining's did; a longer setting gives it back.
    SecondFactorSetUp.objects.filter(user=user).update(opened_at=timezone.now() - timedelta(hours=73))
    assert browser.get("/admin/second-factor/").status_code == 403
    settings.STAFF_SECOND_FACTOR_SET_UP_HOURS = 74
    assert browser.get("/admin/second-factor/").status_code == 200


@pytest.mark.django_db
def test_staff_without_an_app_when_the_set_up_time_came_in_get_all_of_it():
    migration = importlib.import_module("casino_platform.migrations.0001_second_factor_set_up")
    long_ago = timezone.now() - timedelta(days=400)
    without_app = User.objects.create_user("ana", is_staff=True, date_joined=long_ago)
    with_app = User.objects.create_user("bo", is_staff=True, date_joined=long_ago)
    TOTPDevice.objects.create(user=with_app, name="Authenticator app", confirmed=True)
    User.objects.create_user("player-facing", date_joined=long_ago)  # not staff
    User.objects.create_user("left", is_staff=True, is_active=False, date_joined=long_ago)

    migration.open_for_staff_without_an_app(apps, None)

    assert list(SecondFactorSetUp.objects.values_list("user__username", flat=True)) == ["ana"]
    assert staff_set_up_open_until(without_app) > timezone.now() + timedelta(hours=71)
    assert staff_set_up_open_until(with_app) < timezone.now()


@pytest.mark.django_db
def test_a_user_made_staff_or_switched_back_on_has_the_set_up_time_from_then():
    long_ago = timezone.now() - timedelta(days=400)
    cleo = User.objects.create_user("cleo", date_joined=long_ago)  # a user, not staff
    dan = User.objects.create_user("dan", is_staff=True, date_joined=long_ago)
    assert staff_set_up_open_until(cleo) < timezone.now()

    cleo.last_login = timezone.now()
    cleo.save(update_fields=["last_login"])
    dan.first_name = "Dan"
    dan.save()  # already active staff: nothing to give
    assert not SecondFactorSetUp.objects.exists()

    cleo.is_staff = True
    cleo.save()
    dan.is_active = False
    dan.save()
    dan.is_active = True
    dan.save(update_fields=["is_active"])
    for user in (cleo, dan):
        assert staff_set_up_open_until(user) > timezone.now() + timedelta(hours=71)


@pytest.mark.django_db
def test_the_set_up_time_past_the_calendar_is_open_not_a_500(settings):
    settings.STAFF_SECOND_FACTOR_SET_UP_HOURS = 10**8  # refused at start (E004); here as if not
    user = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    assert staff_set_up_open_until(user).year == 9999
    browser = Client()
    assert browser.post("/admin/login/", {"username": "ana", "password": PASSWORD}).status_code == 302
    assert browser.get("/admin/second-factor/").status_code == 200


@pytest.mark.django_db
def test_every_active_member_of_staff_without_an_app_is_reset_at_once():
    """As after turning STAFF_SECOND_FACTOR on behind what had been a single sign-on: everyone
    who joined long ago would otherwise find their set-up time long gone."""
    long_ago = timezone.now() - timedelta(days=400)
    ana = User.objects.create_user("ana", is_staff=True, date_joined=long_ago)
    bo = User.objects.create_user("bo", is_staff=True, date_joined=long_ago)
    TOTPDevice.objects.create(user=bo, name="Authenticator app", confirmed=True)
    out = io.StringIO()
    call_command("second_factor_reset", "--without-app", stdout=out)
    assert "ana's authenticator app and backup codes are deleted" in out.getvalue() and "bo" not in out.getvalue()
    assert staff_set_up_open_until(ana) > timezone.now() + timedelta(hours=71)
    assert TOTPDevice.objects.filter(user=bo).exists()
    with pytest.raises(CommandError, match="not both"):
        call_command("second_factor_reset", "ana", "--without-app")


@pytest.mark.django_db
def test_the_users_list_resets_a_second_factor_for_who_may_delete_one(client, admin_user):
    """Admin -> Users, "Reset their second factor": the way back for a member of staff whose
    set-up time ended with no app (no row under Second factor to delete), as for a lost phone."""
    ana = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    User.objects.filter(pk=ana.pk).update(date_joined=timezone.now() - timedelta(hours=73))
    bo = User.objects.create_user("bo", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=bo, name="Authenticator app", confirmed=True)
    bos_browser = Client()
    bos_browser.force_login(bo)  # the second factor passed (conftest)
    assert bos_browser.get("/admin/").status_code == 200
    action = {"action": "reset_second_factor", "_selected_action": [ana.pk, bo.pk]}

    support = User.objects.create_user("support", is_staff=True)
    support.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(support)
    assert "reset_second_factor" not in client.get("/admin/auth/user/").content.decode()  # not offered
    answer = client.post("/admin/auth/user/", action, follow=True)
    assert "Second factor reset" not in answer.content.decode()
    assert TOTPDevice.objects.filter(user=bo).exists()

    # Nor does changing a user move the day the set-up time runs from.
    joined = User.objects.get(pk=ana.pk).date_joined
    page = client.get(f"/admin/auth/user/{ana.pk}/change/").content.decode()
    assert 'name="date_joined_0"' not in page
    assert User.objects.get(pk=ana.pk).date_joined == joined

    client.force_login(admin_user)
    answer = client.post("/admin/auth/user/", action, follow=True)
    assert "Second factor reset for ana, bo: 1 sessions ended" in answer.content.decode()
    # Who did it: each user's history, as a deletion under Second factor is.
    assert set(
        LogEntry.objects.filter(change_message="Reset their second factor", user=admin_user).values_list(
            "object_repr", flat=True
        )
    ) == {"ana", "bo"}
    assert not TOTPDevice.objects.filter(user=bo).exists()
    assert bos_browser.get("/admin/").status_code == 302  # signed out
    assert staff_set_up_open_until(ana) > timezone.now() + timedelta(hours=71)

    # Their own: signed out at once (the session it ended is not saved again).
    answer = client.post("/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [admin_user.pk]})
    assert answer.status_code == 302
    assert client.get("/admin/").status_code == 302
    assert not TOTPDevice.objects.filter(user=admin_user).exists()


@pytest.mark.django_db
def test_backup_codes_given_by_hand_before_are_stored_as_typed():
    migration = importlib.import_module("casino_platform.migrations.0002_backup_codes_as_typed")
    user = User.objects.create_user("ana", is_staff=True)
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    # As stored before the release: pre_save now normalises, so straight to the table.
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=token) for token in ["Spare Code", "abcdefgh", "123456"]
    )
    migration.as_typed(apps, None)
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == ["123456", "abcdefgh", "sparecode"]


@pytest.mark.django_db
def test_a_backup_code_given_by_hand_is_one_the_sign_in_takes():
    """django-otp's `addstatictoken -t` stores the code as the sign-in reads a typed one, and
    refuses one no sign-in would take; its codes are the member of staff's backup codes."""
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    TOTPDevice.objects.create(user=User.objects.get(username="ana"), name="Authenticator app", confirmed=True)
    given = io.StringIO()
    call_command("addstatictoken", "-t", "Spare Code", "ana", stdout=given)
    assert given.getvalue().strip() == "sparecode"

    browser = Client()
    assert browser.post("/admin/login/", {"username": "ana", "password": PASSWORD}).status_code == 302
    assert browser.post("/admin/second-factor/", {"code": "SPARECODE"}).status_code == 302
    assert browser.get("/admin/").status_code == 200
    assert not StaticToken.objects.exists()  # used once

    for refused, why in [("123 456", "takes six digits for the authenticator app's"), (" ", "cannot be empty")]:
        with pytest.raises(CommandError, match=why):
            call_command("addstatictoken", "-t", refused, "ana")
    assert not StaticToken.objects.exists()


@pytest.mark.django_db
def test_a_reset_ends_the_sessions_and_the_next_sign_in_sets_up_again(client, admin_user):
    client.force_login(admin_user)  # the second factor passed (conftest)
    colleague = Client()
    colleague.force_login(User.objects.create_user("ben", password=PASSWORD, is_staff=True))
    assert client.get("/admin/").status_code == 200

    out = io.StringIO()
    call_command("second_factor_reset", admin_user.username, stdout=out)
    assert "1 of their sessions ended" in out.getvalue()

    # The session ended: it does not get to set up a new app without the password.
    assert client.get("/admin/second-factor/").headers["Location"].startswith("/admin/login/")
    assert colleague.get("/admin/").status_code == 200  # a colleague's session is not touched
    client.post("/admin/login/", {"username": admin_user.username, "password": "password"})
    answer = client.get("/admin/", follow=True)
    assert answer.redirect_chain[-1][0].startswith("/admin/second-factor/")
    assert "Set up your second factor" in answer.content.decode()


@pytest.mark.django_db
def test_deleting_a_device_in_the_admin_resets_the_member_of_staff(client, admin_user):
    ben = User.objects.create_user("ben", password=PASSWORD, is_staff=True)
    bens = Client()
    bens.force_login(ben)
    staff_backup_codes_issue(ben)
    client.force_login(admin_user)
    app = TOTPDevice.objects.get(user=ben)
    answer = client.post(f"/admin/otp_totp/totpdevice/{app.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(user=ben).exists() and not StaticDevice.objects.filter(user=ben).exists()
    assert bens.get("/admin/").headers["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_no_device_list_is_filtered_by_a_key_or_a_code(client, admin_user):
    client.force_login(admin_user)
    staff_backup_codes_issue(admin_user)
    app = TOTPDevice.objects.get(user=admin_user)
    assert client.get(f"/admin/otp_totp/totpdevice/?key__startswith={app.key[:2]}").status_code == 400
    assert client.get("/admin/otp_static/staticdevice/?token_set__token__startswith=a").status_code == 400
    assert client.get("/admin/otp_totp/totpdevice/?confirmed__exact=1").status_code == 200
    page = client.get(f"/admin/otp_totp/totpdevice/{app.pk}/change/").content.decode()
    codes = StaticToken.objects.values_list("token", flat=True)
    assert app.key not in page and b32encode(app.bin_key).decode() not in page
    assert not any(code in client.get("/admin/otp_static/staticdevice/").content.decode() for code in codes)


@pytest.mark.django_db
def test_a_key_shown_in_another_session_is_not_the_one_set_up():
    """Whoever else has the password (the colleague who made the account) and opens the set-up
    page does not learn the key the member of staff then confirms."""
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    ana, other = Client(), Client()
    for browser in (ana, other):
        browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    key_of = {}
    for name, browser in (("other", other), ("ana", ana)):
        page = browser.get("/admin/second-factor/").content.decode()
        key_of[name] = re.search(r"<code>([A-Z2-7 ]+)</code>", page).group(1)
    assert key_of["ana"] != key_of["other"]  # the other session's key was deleted when ana's was shown

    assert "<li><code>" in ana.post("/admin/second-factor/", {"code": app_code(key_of["ana"])}).content.decode()
    assert ana.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get().key == b32decode(key_of["ana"].replace(" ", "")).hex()
    # The key the other session saw makes no code that signs in.
    answer = other.post("/admin/second-factor/", {"code": app_code(key_of["other"])}).content.decode()
    assert "is not the code your authenticator app shows now" in answer
    assert other.get("/admin/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("wanted", "sent_to"),
    [
        ("/admin/wallet/wallet/", "/admin/wallet/wallet/"),
        ("foo", "foo"),  # a relative path, never a URL name reversed (a 500 then)
        ("//evil.example/", "/admin/"),
        ("https://evil.example/", "/admin/"),
        ("/\\evil.example/", "/admin/"),
    ],
)
def test_after_the_second_factor_only_a_path_of_this_site_is_followed(wanted, sent_to):
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    device = TOTPDevice.objects.create(user=User.objects.get(), name="Authenticator app", confirmed=True)
    browser = Client()
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    answer = browser.post(
        "/admin/second-factor/", {"code": app_code(b32encode(device.bin_key).decode()), "next": wanted}
    )
    assert answer.status_code == 302 and answer.headers["Location"] == sent_to


@pytest.mark.django_db
def test_the_second_factor_page_signs_out_and_is_nobodys_without_a_password():
    User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    stranger = Client()
    assert stranger.get("/admin/second-factor/").headers["Location"].startswith("/admin/login/")

    browser = Client()
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    assert browser.post("/admin/second-factor/", {"sign_out": "1"}).headers["Location"] == "/admin/login/"
    assert browser.get("/admin/second-factor/").headers["Location"].startswith("/admin/login/")
    # The admin's own "Log out", from a tab opened before, signs out too.
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    assert browser.post("/admin/logout/").status_code == 200
    assert browser.get("/admin/second-factor/").headers["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_new_backup_codes_need_the_apps_code_and_void_the_old(client, admin_user):
    client.force_login(admin_user)
    key = b32encode(TOTPDevice.objects.get(user=admin_user).bin_key).decode()
    page = "/admin/second-factor/backup-codes/"
    assert "is not the code" in client.post(page, {"code": "abcdefgh"}).content.decode()  # not a backup code
    wait_out_the_throttle(admin_user)
    first = re.findall(r"<code>([a-z2-7]{8})</code>", client.post(page, {"code": app_code(key)}).content.decode())
    assert "10</strong> backup codes left" in client.get(page).content.decode()
    second = re.findall(
        r"<code>([a-z2-7]{8})</code>", client.post(page, {"code": app_code(key, steps_ahead=1)}).content.decode()
    )
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(second)
    assert StaticDevice.objects.count() == 1
    assert 'href="/admin/second-factor/backup-codes/"' in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_new_backup_codes_keep_a_session_that_signed_in_with_one():
    user = User.objects.create_user("ana", password=PASSWORD, is_staff=True)
    app = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    code = staff_backup_codes_issue(user)[0]
    browser = Client()
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    assert browser.post("/admin/second-factor/", {"code": code}).status_code == 302
    made = browser.post("/admin/second-factor/backup-codes/", {"code": app_code(b32encode(app.bin_key).decode())})
    assert made.status_code == 200 and len(re.findall(r"<li><code>", made.content.decode())) == 10
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_page_of_the_back_office_answers_nothing_before_the_second_factor():
    """Every page of every registered admin, and the site's own, for a session that gave only
    the password: a GET and a POST each answer a redirect to the sign-in, which sends it on to
    the second factor."""
    from django.contrib import admin as django_admin
    from django.urls import URLPattern

    User.objects.create_user("ana", password=PASSWORD, is_staff=True, is_superuser=True)
    browser = Client()
    browser.post("/admin/login/", {"username": "ana", "password": PASSWORD})
    paths = set()
    for model, model_admin in django_admin.site._registry.items():
        prefix = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for pattern in model_admin.get_urls():
            if isinstance(pattern, URLPattern):
                paths.add(prefix + re.sub(r"<[^>]+>", "1", str(pattern.pattern)).lstrip("^").rstrip("$"))
    paths |= {"/admin/", "/admin/password_change/", "/admin/ledger/", "/admin/second-factor/backup-codes/"}
    assert len(paths) > 100
    for path in sorted(paths):
        for answer in (browser.get(path), browser.post(path, {"post": "yes", "action": "delete_selected"})):
            assert answer.status_code == 302, path
            assert answer.headers["Location"].startswith("/admin/login/"), path


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
    ben = User.objects.create_user("ben", password=PASSWORD, is_staff=True)
    User.objects.create_user("cleo", password=PASSWORD, is_staff=True)
    User.objects.create_user("dan", password=PASSWORD, is_staff=False)  # not staff: not counted
    for user in (ana, ben):
        TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
        staff_backup_codes_issue(user)
    samples = scrape(client)
    assert samples[("staff_without_second_factor", frozenset())] == 1  # cleo
    assert samples[("staff_second_factor_failing", frozenset())] == 0

    for name, codes in (("ana", ["000000", "zzzzzzzz"]), ("ben", ["zzzzzzzz"])):
        browser = Client()
        browser.post("/admin/login/", {"username": name, "password": PASSWORD})
        for code in codes:  # an app's code and a backup code's form: checked against each device
            browser.post("/admin/second-factor/", {"code": code})
    assert TOTPDevice.objects.get(user=ana).throttling_failure_count == 1
    assert StaticDevice.objects.get(user=ben).throttling_failure_count == 1
    samples = scrape(client)
    assert samples[("staff_second_factor_failing", frozenset())] == 2  # ana once, for both her devices

    long_ago = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    StaticDevice.objects.filter(user=ben).update(throttling_failure_timestamp=long_ago)
    assert scrape(client)[("staff_second_factor_failing", frozenset())] == 1
