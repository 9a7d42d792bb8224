"""The wallet callbacks over HTTP: every rule and error code of the contract."""

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger.models import JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.models import Player
from players.services import player_block, player_set_loss_limit
from provider.models import Provider
from provider.services import provider_secret_rotate, provider_set_enabled
from sessions.models import GameSession
from sessions.services import platform_switch_set, session_create
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=open("/dev/null", "w"))
    return Provider.objects.get(code="sandbox")


@pytest.fixture
def api(client, sandbox):
    return ProviderClient(client)


def launch(player_id="p_demo_1", game_id="sandbox:dice", currency="EUR") -> str:
    player = Player.objects.get(player_id=player_id)
    from provider.models import Game

    game = Game.objects.get(game_id=game_id)
    _, token = session_create(provider=game.provider, player=player, game=game, currency=currency)
    return token


def balance_of(player_id="p_demo_1", currency="EUR") -> int:
    return Wallet.objects.get(player__player_id=player_id, currency_id=currency).balance


def debit(token, tx="d-1", amount=100, round_id="r-1", **kw):
    return {
        "transaction_id": tx,
        "session_token": token,
        "round_id": round_id,
        "game_id": "sandbox:dice",
        "amount": amount,
        "currency": "EUR",
        "reason": "bet",
        **kw,
    }


def credit(tx="c-1", amount=100, round_id="r-1", player_id="p_demo_1", **kw):
    return {
        "transaction_id": tx,
        "player_id": player_id,
        "round_id": round_id,
        "game_id": "sandbox:dice",
        "amount": amount,
        "currency": "EUR",
        "reason": "win",
        **kw,
    }


def assert_nothing_booked(transaction_id, balance, player_id="p_demo_1"):
    """After a refusal: the wallet as it was, and no journal transaction for the call."""
    assert balance_of(player_id) == balance
    assert not JournalTransaction.objects.filter(provider_transaction_id=transaction_id).exists()


def assert_error(response, status, code, retryable=False):
    assert response.status == status, response.body
    assert response.body["code"] == code, response.body
    assert response.body["retryable"] is retryable
    assert response.body["message"]
    assert response.body["trace_id"] == response.headers["X-Trace-Id"] or response.headers.get("Idempotent-Replayed")


class TestAuthentication:
    def test_authenticate_returns_the_session_player(self, api):
        token = launch()
        r = api.post("authenticate", {"session_token": token})
        assert r.status == 200
        assert r.body["player_id"] == "p_demo_1" and r.body["currency"] == "EUR" and r.body["balance"] == 100_000
        assert r.body["display_name"] == "Demo One" and r.body["country"] == "MT"
        assert r.body["session_id"] == str(GameSession.objects.get().pk)
        assert "X-Signature" in r.headers and "X-Timestamp" in r.headers

    def test_unknown_provider(self, api):
        api.provider = "nobody"
        assert_error(api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}), 401, "UNKNOWN_PROVIDER")

    def test_bad_signature(self, api):
        assert_error(
            api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, secret="wrong"), 401, "INVALID_SIGNATURE"
        )

    def test_signature_covers_the_path(self, api):
        # Signed for /balance, sent to /debit: refused.
        token = launch()
        r = api.post("debit", debit(token), sign_path="/api/v1/wallet/balance")
        assert_error(r, 401, "INVALID_SIGNATURE")
        assert balance_of() == 100_000

    def test_signature_covers_the_raw_bytes(self, api):
        # Same JSON value, different bytes (whitespace): the signature is over the bytes sent.
        token = launch()
        raw = orjson.dumps(debit(token))
        good = api.post("debit", raw=b" " + raw)
        assert good.status == 200  # signed over exactly these bytes
        import provider.signing as signing

        ts = str(int(time.time()))
        sig = signing.sign_request(
            secret="sandbox-secret", timestamp=ts, method="POST", path="/api/v1/wallet/debit", body=raw
        )
        r = api.client.generic(
            "POST",
            "/api/v1/wallet/debit",
            data=raw + b"\n",
            content_type="application/json",
            headers={"X-Provider-Id": "sandbox", "X-Timestamp": ts, "X-Signature": sig},
        )
        assert r.status_code == 401 and r.json()["code"] == "INVALID_SIGNATURE"

    @pytest.mark.parametrize("skew", [-301, 301])
    def test_stale_timestamp(self, api, skew, monkeypatch):
        from types import SimpleNamespace

        # The platform's clock held still: read twice a second boundary apart, 301 s ahead
        # was 300 s by the time it was checked (a CI run found it so).
        monkeypatch.setattr("provider.signing.time", SimpleNamespace(time=lambda: 1_800_000_000.0))
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, timestamp=1_800_000_000 + skew)
        assert_error(r, 401, "STALE_TIMESTAMP")

    @pytest.mark.parametrize("skew", [-300, 300])
    def test_the_window_holds_whole_seconds_alike_on_both_sides(self, api, skew, monkeypatch):
        from types import SimpleNamespace

        # Nine tenths into a second: compared as a float, 300 s behind would be 300.9 s.
        monkeypatch.setattr("provider.signing.time", SimpleNamespace(time=lambda: 1_800_000_000.9))
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, timestamp=1_800_000_000 + skew)
        assert r.status == 200, r.body
        late = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, timestamp=1_800_000_000 - 301)
        assert_error(late, 401, "STALE_TIMESTAMP")
        assert late.body["message"] == "X-Timestamp is 301 s from the platform's clock; the window is 300 s."

    @pytest.mark.parametrize(
        "timestamp",
        ["\xb2", "9" * 400, "0" * 5000, "", "1e9", " 1", "-5"],
        # '\xb2' is '²', legal in a header: str.isdigit() takes it and int() does not.
        ids=["superscript-two", "400-digits", "5000-digits", "empty", "exponent", "space", "negative"],
    )
    def test_a_malformed_timestamp_is_stale_not_a_500(self, api, timestamp):
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, headers={"X-Timestamp": timestamp})
        assert_error(r, 401, "STALE_TIMESTAMP")

    @pytest.mark.parametrize("code", ["sand\x00box", "x" * 65, "sandbox ", "sändbox"])
    def test_a_provider_id_that_is_no_providers_code_is_unknown(self, api, code):
        api.provider = code
        assert_error(api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}), 401, "UNKNOWN_PROVIDER")

    def test_timestamp_inside_the_window_is_accepted(self, api):
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, timestamp=int(time.time()) - 290)
        assert r.status == 200

    def test_rotated_secrets_both_work_then_old_is_revoked(self, api, sandbox):
        new_secret = provider_secret_rotate(provider=sandbox)
        payload = {"player_id": "p_demo_1", "currency": "EUR"}
        assert api.post("balance", payload).status == 200  # old still active
        r = api.post("balance", payload, secret=new_secret)
        assert r.status == 200
        provider_secret_rotate(provider=sandbox, force=True)  # a third: the oldest (sandbox-secret) is revoked
        assert_error(api.post("balance", payload), 401, "INVALID_SIGNATURE")
        assert api.post("balance", payload, secret=new_secret).status == 200

    def test_disabled_provider(self, api, sandbox):
        provider_set_enabled(provider=sandbox, is_enabled=False)
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"})
        assert_error(r, 403, "PROVIDER_DISABLED")
        # It proved who it is, so the refusal is signed like every answer (the client verifies it).
        assert "X-Signature" in r.headers and "X-Timestamp" in r.headers

    def test_disabled_provider_with_a_bad_signature_is_not_told_it_is_disabled(self, api, sandbox):
        provider_set_enabled(provider=sandbox, is_enabled=False)
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, secret="not-the-secret")
        assert_error(r, 401, "INVALID_SIGNATURE")
        assert "X-Signature" not in r.headers

    def test_ip_allow_list(self, api, sandbox):
        sandbox.ip_allowlist = ["10.0.0.0/8"]
        sandbox.save()
        from provider.selectors import provider_cache_clear

        provider_cache_clear()
        assert_error(api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}), 403, "IP_NOT_ALLOWED")
        sandbox.ip_allowlist = ["127.0.0.1"]
        sandbox.save()
        provider_cache_clear()
        assert api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}).status == 200

    def test_body_over_64_kib(self, api):
        r = api.post("balance", raw=b'{"pad": "' + b"x" * (64 * 1024) + b'"}')
        assert_error(r, 413, "PAYLOAD_TOO_LARGE")

    @pytest.mark.parametrize("declared", ["abc", "-1", "1e3", "²", " 12"])
    def test_a_content_length_that_is_not_a_length_is_a_bad_request(self, api, declared):
        """Not a big body: a malformed one (granian itself answers 400 before the platform
        sees it; another WSGI server may pass it on)."""
        r = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}, headers={"Content-Length": declared})
        assert_error(r, 400, "VALIDATION_ERROR")
        assert "Content-Length" in r.body["details"]

    def test_rate_limit(self, api, sandbox, monkeypatch):
        sandbox.rate_limit_per_second = 3
        sandbox.save()
        from django.core.cache import cache

        from casino_platform import ratelimit
        from provider.selectors import provider_cache_clear

        provider_cache_clear()
        cache.clear()
        # One window, whatever second the calls fall in.
        window = int(time.time())
        monkeypatch.setattr(ratelimit, "_this_second", lambda: window)
        statuses = [api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}) for _ in range(8)]
        assert [r.status for r in statuses] == [200] * 3 + [429] * 5
        limited = statuses[3:]
        assert_error(limited[0], 429, "RATE_LIMITED", retryable=True)
        assert int(limited[0].headers["Retry-After"]) >= 1

    def test_without_the_cache_a_limited_provider_is_let_through_and_the_cache_tried_again_later(
        self, api, sandbox, settings, caplog, monkeypatch
    ):
        from casino_platform import ratelimit
        from provider.selectors import provider_cache_clear

        sandbox.rate_limit_per_second = 1
        sandbox.save()
        provider_cache_clear()
        # A real Redis client on a port nothing listens on: every cache call fails.
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
        }
        monkeypatch.setattr(ratelimit, "_cache_down_until", 0.0)
        tried = []
        real_count = ratelimit.calls_this_second
        monkeypatch.setattr(ratelimit, "calls_this_second", lambda name: tried.append(name) or real_count(name))
        answers = [api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}) for _ in range(4)]
        assert [r.status for r in answers] == [200] * 4
        # The first call found the cache down; the others did not wait on it again.
        assert tried == ["sandbox"]
        assert sum("rate limits not counted" in r.getMessage() for r in caplog.records) == 1
        monkeypatch.setattr(ratelimit, "_cache_down_until", 0.0)  # the retry period over
        api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"})
        assert tried == ["sandbox", "sandbox"]

    def test_trace_id_is_echoed_and_written_to_the_ledger(self, api):
        token = launch()
        r = api.post("debit", debit(token), headers={"X-Trace-Id": "trace-abc-123"})
        assert r.headers["X-Trace-Id"] == "trace-abc-123"
        assert JournalTransaction.objects.get(provider_transaction_id="d-1").trace_id == "trace-abc-123"

    def test_trace_id_generated_when_absent(self, api):
        first = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}).headers["X-Trace-Id"]
        second = api.post("balance", {"player_id": "p_demo_1", "currency": "EUR"}).headers["X-Trace-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
        assert first != second


class TestValidation:
    @pytest.mark.parametrize(
        ("endpoint", "field", "value"),
        [
            ("debit", "round_id", "r-1 "),
            ("debit", "game_id", " sandbox:dice"),
            ("debit", "currency", "EUR "),
            ("debit", "currency", "EU "),  # three characters, but not as sent
            ("debit", "currency", "EU "),  # three characters, but not as sent
            ("debit", "round_id", "   "),
            ("credit", "player_id", " p_demo_1"),
            ("credit", "round_id", "r-1\n"),
        ],
    )
    def test_an_id_with_whitespace_around_it_is_refused_not_trimmed(self, api, endpoint, field, value):
        # Trimmed, it would be the same round or player, and a changed payload the same one.
        token = launch()
        body = debit(token) if endpoint == "debit" else credit()
        r = api.post(endpoint, {**body, field: value})
        assert_error(r, 400, "VALIDATION_ERROR")
        assert field in r.body["details"]
        assert balance_of() == 100_000
        assert not JournalTransaction.objects.filter(provider_transaction_id__in=["d-1", "c-1"]).exists()

    def test_a_debit_retried_with_a_space_added_to_its_round_is_not_replayed(self, api):
        token = launch()
        assert api.post("debit", debit(token)).status == 200
        assert_error(api.post("debit", debit(token, round_id="r-1 ")), 400, "VALIDATION_ERROR")
        assert balance_of() == 99_900

    @pytest.mark.parametrize("amount", [5.0, "5", True, -1, 0, 10**15 + 1, None])
    def test_amounts(self, api, amount):
        token = launch()
        r = api.post("debit", debit(token, amount=amount))
        assert_error(r, 400, "VALIDATION_ERROR")
        assert "amount" in r.body["details"]
        assert balance_of() == 100_000

    def test_credit_may_be_zero_but_not_negative(self, api):
        token = launch()
        api.post("debit", debit(token))
        assert_error(api.post("credit", credit(amount=-1)), 400, "VALIDATION_ERROR")
        assert api.post("credit", credit(amount=0)).status == 200

    # Whitespace around an id is not trimmed away: ' d-1' would otherwise be the key 'd-1'.
    @pytest.mark.parametrize("tx", ["", "a b", "x" * 129, "é", " d-1", "d-1 ", "d-1\n", "\td-1"])
    def test_transaction_ids(self, api, tx):
        r = api.post("debit", debit(launch(), tx=tx))
        assert_error(r, 400, "VALIDATION_ERROR")
        assert "transaction_id" in r.body["details"]
        assert balance_of() == 100_000

    def test_malformed_json_and_non_objects(self, api):
        assert_error(api.post("debit", raw=b"{not json"), 400, "VALIDATION_ERROR")
        assert_error(api.post("debit", raw=b"[1,2]"), 400, "VALIDATION_ERROR")

    def test_missing_fields_are_named(self, api):
        r = api.post("debit", {"transaction_id": "x"})
        assert_error(r, 400, "VALIDATION_ERROR")
        assert {"session_token", "round_id", "amount", "currency", "reason"} <= set(r.body["details"])

    def test_bad_reason_and_round_closed_types(self, api):
        token = launch()
        assert_error(api.post("debit", debit(token, reason="win")), 400, "VALIDATION_ERROR")
        assert_error(api.post("debit", debit(token, round_closed="true")), 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize(
        "endpoint, field", [("debit", "round_closed"), ("credit", "round_closed"), ("credit", "session_token")]
    )
    def test_an_optional_field_sent_as_null_is_refused_not_taken_as_absent(self, api, endpoint, field):
        """As docs/provider-guide.md says: a serialiser's accidental null is not a decision."""
        token = launch()
        payload = debit(token, **{field: None}) if endpoint == "debit" else credit(**{field: None})
        r = api.post(endpoint, payload)
        assert_error(r, 400, "VALIDATION_ERROR")
        assert r.body["details"] == {field: ["This field may not be null."]}
        assert balance_of() == 100_000

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
    def test_the_signed_bytes_are_read_as_json_whatever_the_content_type(self, api, content_type):
        """Documented leniency: the bytes are signed, so the header changes nothing they say."""
        r = api.post("debit", debit(launch()), headers={"Content-Type": content_type})
        assert r.status == 200, r.body
        assert balance_of() == 100_000 - 100


class TestMoney:
    def test_debit_credit_flow(self, api):
        token = launch()
        r = api.post("debit", debit(token, amount=250))
        assert r.status == 200
        assert r.body == {
            "player_id": "p_demo_1",
            "currency": "EUR",
            "balance": 99_750,
            "transaction_id": "d-1",
            "platform_transaction_id": r.body["platform_transaction_id"],
        }
        r = api.post("credit", credit(amount=1_000))
        assert r.status == 200 and r.body["balance"] == 100_750
        assert api.post("balance", {"session_token": token}).body["balance"] == 100_750
        assert ledger_reconcile().ok

    def test_balance_by_session_with_another_currency_or_player_beside_it_is_refused(self, api):
        token = launch()
        assert_error(api.post("balance", {"session_token": token, "currency": "USD"}), 422, "CURRENCY_MISMATCH")
        assert_error(api.post("balance", {"session_token": token, "player_id": "p_demo_2"}), 401, "SESSION_NOT_FOUND")
        same = api.post("balance", {"session_token": token, "player_id": "p_demo_1", "currency": "EUR"})
        assert same.status == 200 and same.body["balance"] == 100_000

    def test_replay_returns_exactly_the_first_response(self, api):
        token = launch()
        first = api.post("debit", debit(token))
        again = api.post("debit", debit(token))
        assert again.status == first.status and again.body == first.body
        assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
        assert balance_of() == 99_900

    def test_replayed_refusal_is_the_first_refusal(self, api):
        token = launch(player_id="p_low_balance")
        first = api.post("debit", debit(token, amount=51))
        assert_error(first, 402, "INSUFFICIENT_FUNDS")
        again = api.post("debit", debit(token, amount=51))
        assert again.status == 402 and again.body == first.body
        assert again.headers["Idempotent-Replayed"] == "true"

    def test_idempotency_mismatch(self, api):
        token = launch()
        api.post("debit", debit(token, amount=100))
        assert_error(api.post("debit", debit(token, amount=200)), 409, "IDEMPOTENCY_MISMATCH")
        assert balance_of() == 99_900

    def test_session_errors(self, api):
        assert_error(api.post("debit", debit("no-such-token", tx="d-1")), 401, "SESSION_NOT_FOUND")
        token = launch()
        GameSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert_error(api.post("debit", debit(token, tx="d-2")), 401, "SESSION_EXPIRED")
        assert_error(api.post("authenticate", {"session_token": token}), 401, "SESSION_EXPIRED")

    def test_expired_session_still_gets_its_credit(self, api):
        token = launch()
        api.post("debit", debit(token))
        GameSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        r = api.post("credit", credit(amount=500, session_token=token))
        assert r.status == 200 and r.body["balance"] == 100_400

    def test_player_blocked_and_rg(self, api):
        token = launch()
        player = Player.objects.get(player_id="p_demo_1")
        player_set_loss_limit(player=player, currency="EUR", period="day", amount=150, changed_by="t", reason="")
        r = api.post("debit", debit(token, tx="d-a", amount=100, round_id="a"))
        assert (r.status, r.body["balance"], balance_of()) == (200, 99_900, 99_900)
        assert_error(api.post("debit", debit(token, tx="d-b", amount=100, round_id="b")), 403, "RG_LIMIT")
        assert_nothing_booked("d-b", 99_900)
        player_block(player=player, changed_by="t", reason="")
        assert_error(api.post("debit", debit(token, tx="d-c0", amount=1, round_id="c")), 401, "SESSION_EXPIRED")
        # The block closed the session; one left open (written around it) meets the status.
        GameSession.objects.update(closed_at=None)
        assert_error(api.post("debit", debit(token, tx="d-c", amount=1, round_id="c")), 403, "PLAYER_BLOCKED")
        assert_nothing_booked("d-c", 99_900)
        # ... and owed money is still paid to a blocked player.
        r = api.post("credit", credit(tx="c-a", round_id="a", amount=10))
        assert (r.status, r.body["balance"], balance_of()) == (200, 99_910, 99_910)
        assert JournalTransaction.objects.filter(provider_transaction_id="c-a").count() == 1
        assert ledger_reconcile().ok

    def test_self_excluded_player_cannot_launch(self, client, sandbox):
        r = client.post(
            "/api/v1/sessions",
            {"player_id": "p_blocked_rg", "game_id": "sandbox:dice", "currency": "EUR"},
            content_type="application/json",
            headers={"Authorization": "Token sandbox-operator-token"},
        )
        assert r.status_code == 403 and r.json()["code"] == "RG_LIMIT"

    def test_rounds(self, api):
        token = launch()
        r = api.post("debit", debit(token, tx="d-1", round_id="r", round_closed=True))
        assert (r.status, r.body["balance"], balance_of()) == (200, 99_900, 99_900)
        assert_error(api.post("debit", debit(token, tx="d-2", round_id="r")), 409, "ROUND_CLOSED")
        assert_nothing_booked("d-2", 99_900)
        assert_error(api.post("credit", credit(tx="c-1", round_id="unknown")), 404, "ROUND_NOT_FOUND")
        assert_nothing_booked("c-1", 99_900)
        r = api.post("credit", credit(tx="c-2", round_id="tour", reason="prize", amount=5))
        assert (r.status, r.body["balance"], balance_of()) == (200, 99_905, 99_905)
        assert ledger_reconcile().ok

    def test_rollback_statuses_and_tombstone(self, api):
        token = launch()
        api.post("debit", debit(token, tx="d-1", amount=300, round_id="r"))
        rb = {"transaction_id": "rb-1", "reference_transaction_id": "d-1", "player_id": "p_demo_1", "round_id": "r"}
        r = api.post("rollback", rb)
        assert r.status == 200 and r.body["status"] == "rolled_back" and r.body["balance"] == 100_000
        r = api.post("rollback", {**rb, "transaction_id": "rb-2"})
        assert r.body["status"] == "already_rolled_back" and r.body["balance"] == 100_000
        r = api.post("rollback", {**rb, "transaction_id": "rb-3", "reference_transaction_id": "d-late"})
        assert r.body["status"] == "tombstone"
        assert_error(api.post("debit", debit(token, tx="d-late", round_id="r2")), 409, "TRANSACTION_ROLLED_BACK")
        assert balance_of() == 100_000

    def test_a_tombstone_answers_with_a_currency_and_balance_of_the_player(self, api):
        from players.services import player_create

        token = launch()
        api.post("debit", debit(token, tx="d-1", round_id="eur-round"))
        rb = {"transaction_id": "rb-1", "reference_transaction_id": "never", "round_id": "eur-round"}
        # p_demo_2 holds only USD: the round's EUR is not theirs, their own wallet answers.
        r = api.post("rollback", {**rb, "player_id": "p_demo_2"})
        assert (r.status, r.body["status"], r.body["currency"], r.body["balance"]) == (200, "tombstone", "USD", 100_000)
        # A player with no wallet at all: nothing, in the round's currency.
        player_create(player_id="p_no_wallet")
        r = api.post(
            "rollback",
            {**rb, "transaction_id": "rb-2", "reference_transaction_id": "never-2", "player_id": "p_no_wallet"},
        )
        assert (r.status, r.body["status"], r.body["currency"], r.body["balance"]) == (200, "tombstone", "EUR", 0)

    def test_rollback_not_allowed(self, api):
        token = launch()
        assert api.post("debit", debit(token, tx="d-1", round_id="r")).status == 200
        assert api.post("credit", credit(tx="c-1", round_id="r", round_closed=False)).body["balance"] == 100_000
        rb = {"transaction_id": "rb-1", "reference_transaction_id": "c-1", "player_id": "p_demo_1", "round_id": "r"}
        assert_error(api.post("rollback", rb), 409, "ROLLBACK_NOT_ALLOWED")
        assert_nothing_booked("rb-1", 100_000)
        assert_error(
            api.post("rollback", {**rb, "transaction_id": "rb-2", "reference_transaction_id": "d-1"}),
            409,
            "ROLLBACK_NOT_ALLOWED",
        )
        assert_nothing_booked("rb-2", 100_000)
        assert ledger_reconcile().ok

    def test_currency_mismatch_and_unknown_player(self, api):
        token = launch()
        assert_error(api.post("debit", debit(token, currency="USD")), 422, "CURRENCY_MISMATCH")
        assert_nothing_booked("d-1", 100_000)
        assert_error(api.post("balance", {"player_id": "nobody", "currency": "EUR"}), 404, "PLAYER_NOT_FOUND")
        assert_error(api.post("credit", credit(player_id="nobody", reason="prize")), 404, "PLAYER_NOT_FOUND")
        assert not JournalTransaction.objects.filter(provider_transaction_id="c-1").exists()

    def test_session_for_another_game_is_not_found(self, api):
        token = launch()
        assert_error(api.post("debit", debit(token, game_id="sandbox:slot")), 401, "SESSION_NOT_FOUND")

    def test_maintenance(self, api):
        token = launch()
        api.post("debit", debit(token, tx="d-1", round_id="r"))
        platform_switch_set(name="maintenance", is_on=True, changed_by="ops")
        assert_error(api.post("debit", debit(token, tx="d-2", round_id="r2")), 503, "MAINTENANCE", retryable=True)
        assert api.post("credit", credit(tx="c-1", round_id="r")).status == 200
        assert (
            api.post(
                "rollback",
                {"transaction_id": "rb-1", "reference_transaction_id": "d-9", "player_id": "p_demo_1", "round_id": "r"},
            ).status
            == 200
        )
        # The refused debit was retryable, so it was not stored: after maintenance it goes through.
        platform_switch_set(name="maintenance", is_on=False, changed_by="ops")
        assert api.post("debit", debit(token, tx="d-2", round_id="r2")).status == 200


class TestOperatorApi:
    def post(self, client, path, data=None, token="sandbox-operator-token"):
        headers = {"Authorization": f"Token {token}"} if token else {}
        return client.post(path, data or {}, content_type="application/json", headers=headers)

    def test_launch_and_close(self, client, sandbox):
        r = self.post(
            client,
            "/api/v1/sessions",
            {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR", "locale": "en"},
        )
        assert r.status_code == 201, r.content
        body = r.json()
        assert set(body) == {"session_id", "session_token", "launch_url", "expires_at", "ends_at"}
        assert parse_qs(urlsplit(body["launch_url"]).query)["token"] == [body["session_token"]]
        session = GameSession.objects.get(pk=body["session_id"])
        assert session.token_hash != body["session_token"] and len(body["session_token"]) >= 32
        r = self.post(client, f"/api/v1/sessions/{body['session_id']}/close")
        assert r.status_code == 200 and r.json()["closed_at"]
        api = ProviderClient(client)
        assert_error(api.post("authenticate", {"session_token": body["session_token"]}), 401, "SESSION_EXPIRED")

    def test_needs_a_valid_token(self, client, sandbox):
        r = self.post(client, "/api/v1/sessions", {"player_id": "p_demo_1"}, token=None)
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
        r = self.post(client, "/api/v1/sessions", {"player_id": "p_demo_1"}, token="wrong")
        assert r.status_code == 401

    def test_launch_errors(self, client, sandbox):
        r = self.post(client, "/api/v1/sessions", {"player_id": "nobody", "game_id": "sandbox:dice", "currency": "EUR"})
        assert r.status_code == 404 and r.json()["code"] == "PLAYER_NOT_FOUND"
        r = self.post(client, "/api/v1/sessions", {"player_id": "p_demo_1", "game_id": "x:y", "currency": "EUR"})
        assert r.status_code == 404 and r.json()["code"] == "GAME_NOT_FOUND"
        r = self.post(client, "/api/v1/sessions", {"player_id": "p_demo_1", "game_id": "sandbox:dice"})
        assert r.status_code == 400 and "currency" in r.json()["details"]

    @pytest.mark.parametrize(
        ("field", "value", "status", "code"),
        [
            ("player_id", " p_demo_1", 404, "PLAYER_NOT_FOUND"),
            ("player_id", "p_demo_1\n", 404, "PLAYER_NOT_FOUND"),
            ("game_id", "sandbox:dice ", 404, "GAME_NOT_FOUND"),
            ("currency", " EUR", 400, "VALIDATION_ERROR"),
            ("currency", "EU ", 400, "VALIDATION_ERROR"),
        ],
    )
    def test_ids_are_taken_as_sent_as_the_wallet_api_takes_them(self, client, sandbox, field, value, status, code):
        # Trimmed, " p_demo_1" launched p_demo_1: an id is what it says, as in the wallet calls.
        launch_body = {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR", field: value}
        r = self.post(client, "/api/v1/sessions", launch_body)
        assert (r.status_code, r.json()["code"]) == (status, code), r.content
        assert not GameSession.objects.exists()

    @pytest.mark.parametrize("switch", ["no_new_sessions", "maintenance"])
    def test_switches_refuse_launches(self, client, sandbox, switch):
        platform_switch_set(name=switch, is_on=True, changed_by="ops")
        r = self.post(
            client, "/api/v1/sessions", {"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR"}
        )
        assert r.status_code == 503 and r.json()["retryable"] is True


class TestHealthAndSchema:
    def test_health(self, client):
        r = client.get("/health")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok" and body["checks"] == {"database": "ok", "broker": "ok", "cache": "ok"}
        assert body["version"]

    def test_health_degraded_when_broker_down(self, client, settings):
        # Nothing listens on port 1: the broker check fails, the database one still passes.
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        r = client.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "degraded"
        assert r.json()["checks"]["database"] == "ok"
        assert r.json()["checks"]["broker"].startswith("failing")

    def test_health_degraded_when_the_cache_is_down(self, client, settings):
        # The rate limits' Redis (REDIS_URL) apart from the broker's: nothing listens on port 1.
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
        }
        r = client.get("/health")
        assert r.status_code == 503 and r.json()["checks"]["broker"] == "ok"
        assert r.json()["checks"]["cache"].startswith("failing")

    def test_schema_lists_every_endpoint_with_error_codes(self, client):
        r = client.get("/api/schema/?format=json")
        assert r.status_code == 200
        schema = orjson.loads(r.content)
        text = r.content.decode()
        for path in (
            "/api/v1/wallet/debit",
            "/api/v1/wallet/credit",
            "/api/v1/wallet/rollback",
            "/api/v1/wallet/balance",
            "/api/v1/wallet/authenticate",
            "/api/v1/sessions",
            "/health",
        ):
            assert path in text
        for code in ("INSUFFICIENT_FUNDS", "ROUND_CLOSED", "TRANSACTION_ROLLED_BACK", "RATE_LIMITED"):
            assert code in text
        assert "/api/v1/wallet/debit" in schema["paths"]
        assert client.get("/api/docs/").status_code == 200


class TestIdempotencyEdges:
    def test_a_malformed_request_is_not_stored_so_the_corrected_one_goes_through(self, api):
        token = launch()
        api.post("debit", debit(token, tx="d-1", round_id="mine"))
        other = launch(player_id="p_low_balance")
        # Debit on another player's round: VALIDATION_ERROR, evaluated afresh on retry.
        first = api.post("debit", debit(other, tx="d-2", round_id="mine", amount=10))
        assert_error(first, 400, "VALIDATION_ERROR")
        assert first.body["details"] == {"round_id": ["not yours"]}
        assert (
            "Idempotent-Replayed" not in api.post("debit", debit(other, tx="d-2", round_id="mine", amount=10)).headers
        )
        assert api.post("debit", debit(other, tx="d-2", round_id="theirs", amount=10)).status == 200

    @pytest.mark.parametrize("in_database", [True, False], ids=["function", "python"])
    def test_a_debit_into_another_game_s_round_is_refused_and_not_stored(self, api, settings, in_database):
        """A round is one game's (the per-game reports count its bets there): the player's slot
        session cannot bet into the round their dice session opened."""
        settings.WALLET_DEBIT_IN_DATABASE = in_database
        api.post("debit", debit(launch(), tx="d-1", round_id="r-dice"))
        slot = launch(game_id="sandbox:slot")
        first = api.post("debit", debit(slot, tx="d-2", round_id="r-dice", game_id="sandbox:slot"))
        assert_error(first, 400, "VALIDATION_ERROR")
        assert first.body["message"] == "round_id belongs to another game, sandbox:dice."
        assert first.body["details"] == {"round_id": ["of another game"]}
        assert_nothing_booked("d-2", 99_900)
        # Unstored: the same transaction in a round of its own game goes through.
        r = api.post("debit", debit(slot, tx="d-2", round_id="r-slot", game_id="sandbox:slot"))
        assert (r.status, balance_of()) == (200, 99_800)
        assert "Idempotent-Replayed" not in r.headers

    def test_a_replayed_refusal_is_the_same_body_and_moves_nothing(self, api, sandbox):
        from sessions.models import Round

        token = launch()
        api.post("debit", debit(token, tx="d-1", round_id="r", round_closed=True))
        first = api.post("debit", debit(token, tx="d-2", round_id="r"))
        again = api.post("debit", debit(token, tx="d-2", round_id="r"))
        assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
        assert Round.objects.get(round_id="r").debit_count == 1

    def test_maintenance_still_replays_a_debit_that_succeeded(self, api):
        token = launch()
        first = api.post("debit", debit(token, tx="d-1"))
        platform_switch_set(name="maintenance", is_on=True, changed_by="ops")
        again = api.post("debit", debit(token, tx="d-1"))
        assert again.status == 200 and again.body == first.body
        assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "TRACE"])
def test_a_wallet_call_by_another_method_is_405_naming_post(client, sandbox, method):
    """Found by schemathesis (unsupported_method): a 405 carries `Allow` (RFC 9110), and its
    message says which method was refused, not "Method "GET is not allowed; ..." not allowed."."""
    r = client.generic(method, "/api/v1/wallet/debit", data=b"{}", content_type="application/json")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"
    assert r.json()["code"] == "METHOD_NOT_ALLOWED"
    assert r.json()["message"] == f"{method} is not allowed; wallet calls are POST."
