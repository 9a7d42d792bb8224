"""What the back office refuses: actions to staff who may only view, edits of what the books
are keyed by (a currency's code and exponent, a provider's code), a currency code that is no
ISO code, and a report period off the calendar."""

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.urls import reverse

from ledger.models import Currency
from players.models import Player
from provider.models import GameRound, OutboundTransaction, PartnerCasino, PartnerPlayer, ProviderSecret
from sessions.models import Round

pytestmark = pytest.mark.django_db


def staff_with(client, *codenames):
    user = User.objects.create_user("support", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


class TestActionsNeedTheChangePermission:
    def test_view_only_support_cannot_block_players(self, client, sandbox):
        """Without permissions=["change"], Django offers and runs an action for anyone who
        may view the list."""
        staff_with(client, "view_player")
        player = Player.objects.get(player_id="p_demo_1")
        client.post(
            reverse("admin:players_player_changelist"), {"action": "block_players", "_selected_action": [player.pk]}
        )
        player.refresh_from_db()
        assert player.status == Player.Status.ACTIVE

    def test_view_only_staff_cannot_rotate_or_read_a_provider_secret(self, client, sandbox):
        """A rotation shows the new secret to whoever runs it, and a second one revokes the
        secret the provider signs with."""
        staff_with(client, "view_provider")
        before = ProviderSecret.objects.filter(provider=sandbox).count()
        r = client.post(
            reverse("admin:provider_provider_changelist"),
            {"action": "rotate_secret", "_selected_action": [sandbox.pk]},
            follow=True,
        )
        assert ProviderSecret.objects.filter(provider=sandbox).count() == before
        assert b"New secret for sandbox" not in r.content

    def test_view_only_staff_cannot_disable_a_provider(self, client, sandbox):
        """Disabling stops every wallet call of that provider."""
        staff_with(client, "view_provider")
        client.post(
            reverse("admin:provider_provider_changelist"), {"action": "disable", "_selected_action": [sandbox.pk]}
        )
        sandbox.refresh_from_db()
        assert sandbox.is_enabled

    def test_view_only_staff_cannot_force_a_payout_delivery(self, client, sandbox):
        partner = PartnerCasino.objects.first()
        pp = PartnerPlayer.objects.create(partner=partner, partner_player_id="pp1")
        game_round = GameRound.objects.create(
            partner=partner, round_id="gr1", player=pp, game_id="sandbox:dice", currency="EUR", stake=100
        )
        outbound = OutboundTransaction.objects.create(
            partner=partner,
            player=pp,
            round=game_round,
            transaction_id="o-1",
            kind="credit",
            reason="win",
            amount=150,
            currency="EUR",
            status="pending",
            next_attempt_at="2099-01-01T00:00:00Z",
        )
        staff_with(client, "view_outboundtransaction")
        client.post(
            reverse("admin:provider_outboundtransaction_changelist"),
            {"action": "retry_now", "_selected_action": [outbound.pk]},
        )
        outbound.refresh_from_db()
        assert outbound.next_attempt_at.year == 2099


class TestCurrency:
    def test_the_exponent_of_an_existing_currency_is_read_only(self, admin_client, sandbox):
        """Amounts are minor units of the exponent they were booked with: EUR at exponent 0
        would show p_demo_1's 999.40 EUR as 99940 EUR."""
        url = reverse("admin:ledger_currency_change", args=["EUR"])
        admin_client.post(url, {"code": "EUR", "name": "Euro", "exponent": "0", "is_enabled": "on"})
        assert Currency.objects.get(code="EUR").exponent == 2
        r = admin_client.get(reverse("admin:wallet_wallet_changelist"), {"q": "p_demo_1"})
        assert "999.40 EUR" in r.content.decode()

    def test_a_currency_code_must_be_three_capital_letters(self, admin_client, sandbox):
        """Money() refuses any other code, so a wallet in "btc" would make the Wallets list
        and the CSV reports fail for everyone."""
        assert (
            "Three capital letters"
            in admin_client.post(
                reverse("admin:ledger_currency_add"), {"code": "btc", "name": "Bitcoin", "exponent": "4"}
            ).content.decode()
        )
        for code in ("btc", "EU", "EURO", "E1R"):
            r = admin_client.post(
                reverse("admin:ledger_currency_add"),
                {"code": code, "name": "Nope", "exponent": "2", "is_enabled": "on"},
            )
            assert r.status_code == 200 and "code" in r.context["adminform"].form.errors, code
            assert not Currency.objects.filter(code=code).exists()
        r = admin_client.post(
            reverse("admin:ledger_currency_add"), {"code": "BTN", "name": "Ngultrum", "exponent": "2"}, follow=True
        )
        assert r.status_code == 200 and Currency.objects.filter(code="BTN").exists()


class TestProviderCodeIsFixed:
    def test_a_providers_code_cannot_be_renamed_away_from_its_rounds_money(self, admin_client, sandbox):
        """The journal stores the code as text: renamed, every round of that provider would say
        "None booked." under Money movements although money moved."""
        data = {
            "code": "sandbox-renamed",
            "name": sandbox.name,
            "is_enabled": "on",
            "ip_allowlist": "[]",
            "rate_limit_per_second": "0",
            "launch_url_template": sandbox.launch_url_template,
            "secrets-TOTAL_FORMS": "0",
            "secrets-INITIAL_FORMS": "0",
        }
        admin_client.post(reverse("admin:provider_provider_change", args=[sandbox.pk]), data)
        game_round = Round.objects.get(round_id="ledger-r1")
        r = admin_client.get(reverse("admin:game_sessions_round_change", args=[game_round.pk]))
        assert "None booked." not in r.content.decode()


class TestReportCommand:
    @pytest.mark.parametrize("args", [["--since", "9999-12-31"], ["--until", "0001-01-01"]])
    def test_a_date_at_the_calendars_edge_is_explained_not_a_traceback(self, db, tmp_path, args):
        """A mistyped year: the day after 9999-12-31 is not a date."""
        from django.core.management.base import CommandError

        with pytest.raises(CommandError, match="calendar"):
            call_command(
                "ledger_report",
                "journal",
                *args,
                "-o",
                str(tmp_path / "r.csv"),
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
