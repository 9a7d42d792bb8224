"""The provider management commands: create, rotate, disable, and the sandbox seed."""

import io
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import JournalTransaction
from players.models import Player
from provider.crypto import decrypt_secret
from provider.models import PartnerCasino, Provider, ProviderSecret
from provider.selectors import provider_auth_info
from provider.services import provider_active_secrets
from provider.tests.factories import ProviderFactory
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient

pytestmark = pytest.mark.django_db

SHOWN_ONCE = "Signing secret (store it now; it is not shown again):"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def printed_secret(output: str) -> str:
    """The secret is the line after the 'shown once' notice."""
    lines = output.splitlines()
    return lines[lines.index(SHOWN_ONCE) + 1].strip()


def balance_call(client, *, code: str, secret: str):
    return ProviderClient(client, provider=code, secret=secret).post(
        "balance", {"player_id": "p_demo_1", "currency": "EUR"}
    )


@pytest.fixture
def sandbox(db):
    run("seed_sandbox")
    return Provider.objects.get(code="sandbox")


def sandbox_counts() -> dict[str, int]:
    return {
        "players": Player.objects.count(),
        "wallets": Wallet.objects.count(),
        "journal": JournalTransaction.objects.count(),
        "providers": Provider.objects.count(),
        "secrets": ProviderSecret.objects.filter(is_active=True).count(),
    }


class TestCreateProvider:
    def test_prints_the_secret_once_and_stores_it_encrypted(self):
        output = run("create_provider", "acme", "--name", "Acme Games")
        secret = printed_secret(output)
        assert output.count(secret) == 1
        assert len(secret) >= 32
        provider = Provider.objects.get(code="acme")
        assert provider.name == "Acme Games" and provider.is_enabled
        stored = ProviderSecret.objects.get(provider=provider)
        assert stored.is_active
        assert stored.secret_encrypted != secret
        assert secret not in stored.secret_encrypted
        assert decrypt_secret(stored.secret_encrypted) == secret
        assert stored.hint == secret[:6]

    def test_the_back_offices_code_is_reserved(self):
        """The cashier's movements are journalled and made idempotent under it: a provider of
        that name would share their references."""
        for code in ("backoffice", "BackOffice"):
            with pytest.raises(CommandError, match="is reserved"):
                run("create_provider", code)
        assert not Provider.objects.exists()

    def test_name_defaults_to_the_code(self):
        run("create_provider", "acme")
        assert Provider.objects.get(code="acme").name == "acme"

    def test_addresses_given_together_are_stored_apart(self):
        run("create_provider", "acme", "--allow-ip", "203.0.113.0/24,198.51.100.7")
        assert Provider.objects.get(code="acme").ip_allowlist == ["203.0.113.0/24", "198.51.100.7"]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["acme", "--allow-ip", "casino.example"], "Not an IP address or network: 'casino.example'"),
            (["acme", "--allow-ip", "10.0.0.0/33"], "Not an IP address or network"),
            (["acme", "--rate-limit", "-1"], "rate_limit_per_second"),
            (["acme", "--rate-limit", "3000000000"], "rate_limit_per_second"),
            (["x" * 65], "code"),
            (["a b"], "code"),
            ([""], "code"),
            (["acme", "--name", "n" * 121], "name"),
        ],
    )
    def test_input_the_model_refuses_is_a_command_error_and_creates_nothing(self, args, message):
        # These were stored unusable (an allow-list entry that matches no caller) or a traceback.
        with pytest.raises(CommandError, match=message):
            run("create_provider", *args)
        assert not Provider.objects.exists()

    def test_allow_ip_and_rate_limit_are_stored(self):
        run("create_provider", "acme", "--allow-ip", "10.0.0.0/8", "--allow-ip", "192.0.2.7", "--rate-limit", "25")
        provider = Provider.objects.get(code="acme")
        assert provider.ip_allowlist == ["10.0.0.0/8", "192.0.2.7"]
        assert provider.rate_limit_per_second == 25

    def test_defaults_allow_any_address_and_no_rate_limit(self):
        run("create_provider", "acme")
        provider = Provider.objects.get(code="acme")
        assert provider.ip_allowlist == [] and provider.rate_limit_per_second == 0

    def test_duplicate_code_is_a_command_error(self):
        run("create_provider", "acme")
        with pytest.raises(CommandError, match="acme"):
            run("create_provider", "acme")
        assert Provider.objects.filter(code="acme").count() == 1
        assert ProviderSecret.objects.filter(provider__code="acme").count() == 1

    def test_created_secret_authenticates_wallet_calls(self, client, sandbox):
        secret = printed_secret(run("create_provider", "acme"))
        assert balance_call(client, code="acme", secret=secret).status == 200
        assert balance_call(client, code="acme", secret="wrong").status == 401

    def test_secret_never_appears_in_logs(self, caplog):
        caplog.set_level(logging.DEBUG)
        # Capturing queries turns on Django's SQL logging, parameters included; the "django"
        # logger stops at INFO, so open its SQL child to DEBUG.
        caplog.set_level(logging.DEBUG, logger="django.db.backends")
        with CaptureQueriesContext(connection) as queries:
            output = run("create_provider", "acme")
        secret = printed_secret(output)
        assert any("provider_providersecret" in q["sql"] for q in queries.captured_queries)
        assert any("provider_providersecret" in r.getMessage() for r in caplog.records), "SQL was not logged"
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in record.getMessage()
        assert all(secret not in q["sql"] for q in queries.captured_queries)


class TestRotateProviderSecret:
    def test_rotation_leaves_two_active_secrets_that_both_verify(self, client, sandbox):
        output = run("rotate_provider_secret", "sandbox")
        new_secret = printed_secret(output)
        assert new_secret != "sandbox-secret"
        active = ProviderSecret.objects.filter(provider=sandbox, is_active=True)
        assert active.count() == 2
        assert sorted(provider_active_secrets(provider=sandbox)) == sorted(["sandbox-secret", new_secret])
        assert set(provider_auth_info(code="sandbox").secrets) == {"sandbox-secret", new_secret}
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 200
        assert balance_call(client, code="sandbox", secret=new_secret).status == 200

    def test_finish_revokes_the_older_secret(self, client, sandbox):
        new_secret = printed_secret(run("rotate_provider_secret", "sandbox"))
        output = run("rotate_provider_secret", "sandbox", "--finish")
        assert "Revoked 1" in output
        assert SHOWN_ONCE not in output
        active = ProviderSecret.objects.get(provider=sandbox, is_active=True)
        assert decrypt_secret(active.secret_encrypted) == new_secret
        old = ProviderSecret.objects.get(provider=sandbox, is_active=False)
        assert decrypt_secret(old.secret_encrypted) == "sandbox-secret" and old.revoked_at is not None
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 401
        assert balance_call(client, code="sandbox", secret=new_secret).status == 200

    def test_finish_with_a_single_secret_revokes_nothing(self, sandbox):
        assert "Revoked 0" in run("rotate_provider_secret", "sandbox", "--finish")
        assert ProviderSecret.objects.filter(provider=sandbox, is_active=True).count() == 1

    def test_a_second_rotation_before_finish_is_refused_as_it_would_cut_the_provider_off(self, client, sandbox):
        printed_secret(run("rotate_provider_secret", "sandbox"))
        with pytest.raises(CommandError, match="would revoke sandbo…, which the provider may still sign with"):
            run("rotate_provider_secret", "sandbox")
        assert ProviderSecret.objects.filter(provider=sandbox, is_active=True).count() == 2
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 200

    def test_third_rotation_with_force_revokes_the_oldest_and_says_so(self, client, sandbox):
        second = printed_secret(run("rotate_provider_secret", "sandbox"))
        output = run("rotate_provider_secret", "sandbox", "--force")
        assert "Revoked sandbo… to make room (--force)." in output
        third = printed_secret(output)
        assert set(provider_active_secrets(provider=sandbox)) == {second, third}
        revoked = ProviderSecret.objects.get(provider=sandbox, is_active=False)
        assert decrypt_secret(revoked.secret_encrypted) == "sandbox-secret"
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 401
        assert balance_call(client, code="sandbox", secret=second).status == 200
        assert balance_call(client, code="sandbox", secret=third).status == 200

    @pytest.mark.parametrize("extra", [[], ["--finish"]])
    def test_unknown_provider_is_a_command_error(self, extra):
        with pytest.raises(CommandError, match="nobody"):
            run("rotate_provider_secret", "nobody", *extra)
        assert not ProviderSecret.objects.exists()


class TestDisableProvider:
    def test_disables_then_enable_reenables(self, client, sandbox):
        output = run("disable_provider", "sandbox")
        assert "disabled" in output
        sandbox.refresh_from_db()
        assert not sandbox.is_enabled
        r = balance_call(client, code="sandbox", secret="sandbox-secret")
        assert r.status == 403 and r.body["code"] == "PROVIDER_DISABLED"

        output = run("disable_provider", "sandbox", "--enable")
        assert "enabled" in output
        sandbox.refresh_from_db()
        assert sandbox.is_enabled
        assert balance_call(client, code="sandbox", secret="sandbox-secret").status == 200

    def test_unknown_provider_is_a_command_error(self):
        ProviderFactory(code="other")
        with pytest.raises(CommandError, match="nobody"):
            run("disable_provider", "nobody")
        assert Provider.objects.get(code="other").is_enabled


class TestSeedSandbox:
    def test_creates_the_sandbox(self, sandbox):
        assert sandbox.is_enabled
        assert provider_active_secrets(provider=sandbox) == ["sandbox-secret"]
        assert set(sandbox.games.values_list("game_id", flat=True)) == {
            "sandbox:dice",
            "sandbox:slot",
            "sandbox:holdem",
        }
        balances = {(w.player.player_id, w.currency_id): w.balance for w in Wallet.objects.select_related("player")}
        assert balances == {
            ("p_demo_1", "EUR"): 100_000,
            ("p_demo_2", "USD"): 100_000,
            ("p_blocked_rg", "EUR"): 10_000,
            ("p_low_balance", "EUR"): 50,
            ("p_kyc_pending", "EUR"): 10_000,
        }
        excluded = Player.objects.get(player_id="p_blocked_rg")
        assert excluded.self_excluded_until is not None
        assert not Player.objects.exclude(player_id="p_blocked_rg").filter(self_excluded_until__isnull=False).exists()
        # One player for a casino to see its withdrawals refused until its identity is verified.
        kyc = dict(Player.objects.values_list("player_id", "kyc_status"))
        assert kyc.pop("p_kyc_pending") == Player.KycStatus.PENDING
        assert set(kyc.values()) == {Player.KycStatus.VERIFIED}

    def test_gives_the_partner_the_browsers_address_unless_told_another(self, settings):
        settings.PUBLIC_BASE_URL = "http://127.0.0.1:8123"
        settings.SANDBOX_PARTNER_URL = ""
        assert "partner casino self: http://127.0.0.1:8123" in run("seed_sandbox")
        assert PartnerCasino.objects.get(name="self").base_url == "http://127.0.0.1:8123"
        # In containers the worker reaches the web server by its service name, not the browser's address.
        settings.SANDBOX_PARTNER_URL = "http://web:8000"
        assert "partner casino self: http://web:8000" in run("seed_sandbox")
        assert PartnerCasino.objects.get(name="self").base_url == "http://web:8000"

    def test_is_safe_to_run_twice(self, sandbox):
        before = sandbox_counts()
        excluded_until = Player.objects.get(player_id="p_blocked_rg").self_excluded_until
        run("seed_sandbox")
        assert sandbox_counts() == before
        assert before["players"] == 5 and before["wallets"] == 5 and before["journal"] == 5
        assert dict(Wallet.objects.values_list("player__player_id", "balance")) == {
            "p_demo_1": 100_000,
            "p_demo_2": 100_000,
            "p_blocked_rg": 10_000,
            "p_low_balance": 50,
            "p_kyc_pending": 10_000,
        }
        assert Player.objects.get(player_id="p_blocked_rg").self_excluded_until == excluded_until
