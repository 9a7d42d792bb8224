from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from provider.crypto import decrypt_secret
from provider.models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbound(db):
    partner = PartnerCasino.objects.create(
        name="acme", base_url="http://127.0.0.1:9", provider_code="us", secret_encrypted="x"
    )
    player = PartnerPlayer.objects.create(partner=partner, partner_player_id="p1")
    round_obj = GameRound.objects.create(
        partner=partner, round_id="r1", player=player, game_id="us:dice", currency="EUR", stake=100
    )
    return OutboundTransaction.objects.create(
        partner=partner,
        player=player,
        round=round_obj,
        transaction_id="c-1",
        kind="credit",
        reason="win",
        amount=150,
        currency="EUR",
        status="pending",
        attempts=12,
        last_error_code="SERVICE_UNAVAILABLE",
    )


def test_outbound_pages_and_the_flagged_filter(admin_client, outbound):
    OutboundTransaction.objects.filter(pk=outbound.pk).update(flagged_at="2026-01-01T00:00:00Z")
    for name in ("outboundtransaction", "gameround", "partnercasino"):
        assert admin_client.get(reverse(f"admin:provider_{name}_changelist")).status_code == 200
    r = admin_client.get(reverse("admin:provider_outboundtransaction_changelist") + "?flagged=yes")
    assert b"c-1" in r.content
    r = admin_client.get(reverse("admin:provider_outboundtransaction_change", args=[outbound.pk]))
    assert r.status_code == 200
    r = admin_client.get(reverse("admin:provider_partnercasino_change", args=[outbound.partner_id]))
    assert r.status_code == 200 and b"secret_encrypted" not in r.content


def test_retry_now_makes_a_delivery_due(admin_client, outbound, django_capture_on_commit_callbacks):
    OutboundTransaction.objects.filter(pk=outbound.pk).update(next_attempt_at="2099-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = admin_client.post(
            reverse("admin:provider_outboundtransaction_changelist"),
            {"action": "retry_now", "_selected_action": [outbound.pk]},
        )
    assert r.status_code == 302
    outbound.refresh_from_db()
    assert outbound.next_attempt_at.year < 2099
    assert len(callbacks) == 1  # the delivery task is queued once the change commits


def test_create_partner_keeps_the_secret_encrypted(monkeypatch):
    monkeypatch.setenv("ACME_SECRET", "s3cr3t-from-acme")
    out = StringIO()
    call_command(
        "create_partner",
        "acme",
        "--base-url",
        "https://casino.example",
        "--provider-code",
        "us",
        "--secret-env",
        "ACME_SECRET",
        stdout=out,
    )
    partner = PartnerCasino.objects.get(name="acme")
    assert (
        partner.secret_encrypted != "s3cr3t-from-acme"
        and decrypt_secret(partner.secret_encrypted) == "s3cr3t-from-acme"
    )
    assert "s3cr3t" not in out.getvalue()


def partner_command(*args, **env):
    return call_command(
        "create_partner",
        "acme",
        "--base-url",
        env.pop("base_url", "https://casino.example"),
        "--provider-code",
        "us",
        "--secret-env",
        "ACME_SECRET",
        *args,
        stdout=StringIO(),
    )


def test_create_partner_run_again_keeps_the_timeouts_it_is_not_given(monkeypatch):
    monkeypatch.setenv("ACME_SECRET", "first")
    partner_command("--read-timeout-ms", "10000")
    monkeypatch.setenv("ACME_SECRET", "rotated")  # run again for a new secret only
    partner_command()
    partner = PartnerCasino.objects.get(name="acme")
    assert (partner.read_timeout_ms, partner.connect_timeout_ms) == (10_000, 1_000)
    assert decrypt_secret(partner.secret_encrypted) == "rotated"


@pytest.mark.parametrize(
    ("name", "base_url", "message"),
    [("acme", "casino.example", "base_url"), ("not a slug", "https://casino.example", "name")],
)
def test_create_partner_refuses_what_the_model_refuses_before_asking_for_a_secret(monkeypatch, name, base_url, message):
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "s")
    with pytest.raises(CommandError, match=message):
        call_command("create_partner", name, "--base-url", base_url, "--provider-code", "us", stdout=StringIO())
    assert asked == [] and not PartnerCasino.objects.exists()


def test_create_partner_without_a_terminal_to_ask_on_says_so(monkeypatch):
    def no_terminal(prompt):
        raise EOFError

    monkeypatch.setattr("getpass.getpass", no_terminal)
    with pytest.raises(CommandError, match="no terminal to ask on: use --secret-env VAR"):
        call_command(
            "create_partner", "acme", "--base-url", "https://casino.example", "--provider-code", "us", stdout=StringIO()
        )


def test_the_admin_refuses_a_provider_under_the_back_offices_code(admin_client):
    from provider.models import Provider

    page = admin_client.post(
        reverse("admin:provider_provider_add"),
        {"code": "backoffice", "name": "x", "is_enabled": "on", "ip_allowlist": "[]", "rate_limit_per_second": "0"},
    )
    assert page.status_code == 200  # the form again
    assert "is reserved" in page.content.decode()
    assert not Provider.objects.exists()


def test_a_partners_timeouts_are_bounded_in_the_admin(admin_client):
    page = admin_client.post(
        reverse("admin:provider_partnercasino_add"),
        {
            "name": "p",
            "base_url": "http://127.0.0.1:9",
            "provider_code": "us",
            "connect_timeout_ms": "0",
            "read_timeout_ms": "60001",
            "is_enabled": "on",
        },
    )
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert set(errors) == {"connect_timeout_ms", "read_timeout_ms"}
    assert not PartnerCasino.objects.exists()


@pytest.mark.parametrize(
    "template, message",
    [
        ("https://games.example/play?lang={lang}", "{lang} is not a placeholder here"),
        ("https://games.example/play?t={token", "Not a template"),
        ("https://games.example/play?t={token!r}", "Write {token} plain"),
    ],
)
def test_a_launch_url_template_that_cannot_be_made_is_refused(admin_client, template, message):
    from provider.models import Provider

    page = admin_client.post(
        reverse("admin:provider_provider_add"),
        {
            "code": "acme",
            "name": "Acme",
            "is_enabled": "on",
            "ip_allowlist": "[]",
            "rate_limit_per_second": "0",
            "launch_url_template": template,
        },
    )
    assert page.status_code == 200
    assert message in " ".join(page.context["adminform"].form.errors["launch_url_template"])
    assert not Provider.objects.exists()
