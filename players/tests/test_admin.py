"""The player back office: lists, the change page, and edits that go through the audited service."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from casino_platform.tests.pages import form_as_shown
from players.models import Player, PlayerAuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def demo_player(player_id: str = "p_demo_1") -> Player:
    return Player.objects.get(player_id=player_id)


class TestPages:
    @pytest.mark.parametrize("page", ["players_player", "players_playerauditlog"])
    def test_changelist_returns_200(self, admin_client, sandbox, page):
        r = admin_client.get(reverse(f"admin:{page}_changelist"))
        assert r.status_code == 200
        assert r.context["cl"].result_count >= 4
        assert b"p_blocked_rg" in r.content

    def test_player_change_page_returns_200(self, admin_client, sandbox):
        player = demo_player("p_blocked_rg")
        r = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert r.status_code == 200
        assert b"p_blocked_rg" in r.content
        assert b"sandbox self-excluded player" in r.content  # the audit inline

    def test_the_player_s_money_is_on_the_page_with_where_to_look_next(self, client, admin_client, sandbox):
        from wallet.models import Wallet
        from wallet.tests.test_cashier import call

        body = {"currency": "EUR", "amount": 2_500, "reference": "po-page"}
        assert call(client, "POST", "p_demo_1/withdrawals", body).status_code == 200
        wallet = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR")
        page = admin_client.get(reverse("admin:players_player_change", args=[demo_player().pk])).content.decode()
        assert "975.00 EUR" in page
        # The sandbox's opening deposit and the withdrawal, in the last 30 days.
        assert "deposited 1000.00 EUR, withdrawn 25.00 EUR, wagered 0.00 EUR, won 0.00 EUR, net 0.00 EUR" in page
        entries = reverse("admin:ledger_entry_changelist") + f"?account__id__exact={wallet.account_id}"
        withdrawals = reverse("admin:wallet_withdrawal_changelist") + f"?status=all&amp;wallet={wallet.pk}"
        assert entries in page and withdrawals in page
        listed = admin_client.get(entries.replace("&amp;", "&"))
        assert listed.status_code == 200 and listed.context["cl"].result_count == 2
        listed = admin_client.get(withdrawals.replace("&amp;", "&"))
        assert listed.status_code == 200 and [w.reference for w in listed.context["cl"].result_list] == ["po-page"]

    def test_audit_log_is_read_only(self, admin_client, sandbox):
        entry = PlayerAuditLog.objects.filter(player__player_id="p_demo_1").first()
        assert admin_client.get(reverse("admin:players_playerauditlog_add")).status_code == 403
        assert admin_client.get(reverse("admin:players_playerauditlog_delete", args=[entry.pk])).status_code == 403
        r = admin_client.get(reverse("admin:players_playerauditlog_change", args=[entry.pk]))
        assert r.status_code == 200 and not r.context["has_change_permission"]


def with_reason(client, url, action, selected, reason):
    """An action's second step: the players named and the reason given on its page."""
    r = client.post(url, {"action": action, "_selected_action": selected, "confirm": "yes", "reason": reason})
    assert r.status_code == 302, r.content.decode()[-2000:]
    return r


class TestEdits:
    def test_edit_goes_through_the_audited_service(self, admin_client, admin_user, sandbox):
        player = demo_player()
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(admin_client.get(url))
        data.update(display_name="Demo Renamed", status=Player.Status.BLOCKED, change_reason="card fraud suspected")
        audit_before = PlayerAuditLog.objects.filter(player=player).count()

        r = admin_client.post(url, data)
        assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r

        player.refresh_from_db()
        assert player.display_name == "Demo Renamed" and player.status == Player.Status.BLOCKED
        new_rows = set(
            PlayerAuditLog.objects.filter(player=player)
            .order_by("id")[audit_before:]
            .values_list("field", "old_value", "new_value", "changed_by", "reason")
        )
        assert new_rows == {
            ("display_name", "Demo One", "Demo Renamed", admin_user.get_username(), "card fraud suspected"),
            ("status", "active", "blocked", admin_user.get_username(), "card fraud suspected"),
        }

    def test_a_country_is_taken_in_capitals_only(self, admin_client, sandbox):
        """Games' restricted countries are compared with it, and are written so."""
        player = demo_player()
        url = reverse("admin:players_player_change", args=[player.pk])
        r = admin_client.post(url, {**form_as_shown(admin_client.get(url)), "country": "gb"})
        assert r.status_code == 200 and r.context["adminform"].form.errors["country"]
        assert Player.objects.get(pk=player.pk).country == "MT"

    def test_unchanged_form_writes_no_audit_rows(self, admin_client, sandbox):
        player = demo_player("p_blocked_rg")
        url = reverse("admin:players_player_change", args=[player.pk])
        audit_before = PlayerAuditLog.objects.count()
        r = admin_client.post(url, form_as_shown(admin_client.get(url)))
        assert r.status_code == 302
        assert PlayerAuditLog.objects.count() == audit_before

    def test_block_and_unblock_actions_are_audited(self, admin_client, admin_user, sandbox):
        players = [demo_player("p_demo_1"), demo_player("p_demo_2")]
        url = reverse("admin:players_player_changelist")
        selected = [str(p.pk) for p in players]

        # First the page that names them and asks why; nothing changes yet.
        asked = admin_client.post(url, {"action": "block_players", "_selected_action": selected})
        assert (
            asked.status_code == 200
            and "p_demo_1" in asked.content.decode()
            and "reason" in asked.context["form"].fields
        )
        assert set(Player.objects.filter(pk__in=selected).values_list("status", flat=True)) == {"active"}
        # Without a reason it is asked again.
        again = admin_client.post(url, {"action": "block_players", "_selected_action": selected, "confirm": "yes"})
        assert again.status_code == 200 and again.context["form"].errors["reason"]
        assert set(Player.objects.filter(pk__in=selected).values_list("status", flat=True)) == {"active"}

        r = admin_client.post(
            url, {"action": "block_players", "_selected_action": selected, "confirm": "yes", "reason": "chargebacks"}
        )
        assert r.status_code == 302
        assert set(Player.objects.filter(pk__in=selected).values_list("status", flat=True)) == {"blocked"}
        blocked = PlayerAuditLog.objects.filter(field="status", new_value="blocked", reason="chargebacks")
        assert set(blocked.values_list("player__player_id", "changed_by")) == {
            ("p_demo_1", admin_user.get_username()),
            ("p_demo_2", admin_user.get_username()),
        }

        with_reason(admin_client, url, "unblock_players", selected, "cleared by the PSP")
        assert set(Player.objects.filter(pk__in=selected).values_list("status", flat=True)) == {"active"}
        assert PlayerAuditLog.objects.filter(new_value="active", reason="cleared by the PSP").count() == 2


def test_an_action_on_more_players_than_its_page_can_post_back_is_refused(admin_client, sandbox, monkeypatch):
    from players import admin as players_admin

    monkeypatch.setattr(players_admin, "MAX_PLAYERS_PER_ACTION", 2)
    selected = [str(p.pk) for p in Player.objects.all()[:3]]
    r = admin_client.post(
        reverse("admin:players_player_changelist"),
        {"action": "block_players", "_selected_action": selected},
        follow=True,
    )
    assert "Select at most 2 players at a time." in r.content.decode()
    assert not Player.objects.filter(status=Player.Status.BLOCKED).exclude(player_id="p_blocked_rg").exists()


class TestAPageOpenedBeforeAChange:
    """A field changed since staff opened the page (the player closed the account, the
    casino revoked the verification) is neither written back by a save of the page nor
    changed by one that edits it without seeing the change."""

    def test_a_save_of_another_field_leaves_a_closure_and_a_revocation(self, admin_client, sandbox):
        from players.services import player_close, player_update

        player = demo_player()
        player_update(player=player, changed_by="t", reason="t", kyc_status="verified")
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(admin_client.get(url))
        player_close(player=demo_player(), changed_by="player", reason="asked")
        player_update(player=demo_player(), changed_by="casino", reason="forged papers", kyc_status="rejected")
        r = admin_client.post(url, {**data, "display_name": "Typo Fixed"})
        assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
        player = demo_player()
        assert (player.display_name, player.status, player.kyc_status) == ("Typo Fixed", "closed", "rejected")

    def test_an_edit_of_a_field_changed_meanwhile_is_refused_on_the_field(self, admin_client, sandbox):
        from players.services import player_close

        player = demo_player()
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(admin_client.get(url))
        player_close(player=demo_player(), changed_by="player", reason="asked")
        r = admin_client.post(url, {**data, "status": Player.Status.BLOCKED})
        assert r.status_code == 200
        assert "has changed since this page was opened" in str(r.context["adminform"].form.errors["status"])
        assert demo_player().status == "closed"

    def test_a_change_of_country_locks_the_sessions_before_the_player(self, admin_client, sandbox):
        """The order a debit takes them in: otherwise the two can deadlock."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from wallet.tests.api_client import launch

        launch("p_demo_1")
        player = demo_player()
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(admin_client.get(url))
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.post(url, {**data, "country": "GB", "change_reason": "moved"}).status_code == 302
        locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
        sessions = next(i for i, sql in enumerate(locks) if "game_sessions_gamesession" in sql)
        player_row = next(i for i, sql in enumerate(locks) if 'FROM "players_player"' in sql)
        assert sessions < player_row, locks

    def test_a_block_freezes_a_closed_account_and_its_unblock_gives_the_closure_back(self, admin_client, sandbox):
        from players.services import player_close

        player_close(player=demo_player("p_demo_2"), changed_by="player", reason="asked")
        selected = [str(demo_player(p).pk) for p in ("p_demo_1", "p_demo_2")]
        url = reverse("admin:players_player_changelist")
        with_reason(admin_client, url, "block_players", selected, "fraud check")
        assert (demo_player("p_demo_1").status, demo_player("p_demo_2").status) == ("blocked", "blocked")
        with_reason(admin_client, url, "unblock_players", selected, "fraud check passed")
        assert (demo_player("p_demo_1").status, demo_player("p_demo_2").status) == ("active", "closed")

    def test_a_name_with_a_line_break_or_an_old_lowercase_country_can_still_be_saved(self, admin_client, sandbox):
        """The page's hidden copy comes back as the browser sends it (its line ends, a value
        the form would now refuse): not a change made since the page was opened."""
        Player.objects.filter(player_id="p_demo_1").update(display_name="Demo\nOne", country="mt")
        player = demo_player()
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(admin_client.get(url))
        data.update(
            {
                "initial-display_name": "Demo\r\nOne",
                "display_name": "Demo One",
                "country": "MT",
                "change_reason": "tidy",
            }
        )
        r = admin_client.post(url, data)
        assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
        assert (demo_player().display_name, demo_player().country) == ("Demo One", "MT")


def last_message(response) -> str:
    return str(list(response.wsgi_request._messages)[-1])


class TestLossLimitPage:
    def url(self, player):
        return reverse("admin:players_player_loss_limit", args=[player.pk])

    def post(self, client, player, **data):
        return client.post(self.url(player), {"currency": "EUR", "period": "day", "reason": "asked", **data})

    def test_linked_from_the_player_and_set_through_the_service(self, admin_client, admin_user, sandbox, settings):
        settings.RG_LIMIT_INCREASE_DELAY_SECONDS = 3600
        player = demo_player()
        page = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert self.url(player).encode() in page.content
        assert admin_client.get(self.url(player)).status_code == 200
        r = self.post(admin_client, player, amount="20.00")
        assert r.status_code == 302
        assert last_message(r) == "The day loss limit in EUR is 20.00 EUR, in force now."
        r = self.post(admin_client, player, amount="90")
        assert "stays 20.00 EUR until" in last_message(r)
        assert "90.00 EUR takes effect then" in last_message(r)
        limit = player.loss_limits.get()
        assert (limit.amount, limit.pending_amount) == (2_000, 9_000)
        page = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert b"90.00 EUR from" in page.content  # the inline shows what is waiting
        r = self.post(admin_client, player, amount="")
        assert r.status_code == 200 and r.context["form"].non_field_errors()  # empty is not a removal
        r = self.post(admin_client, player, amount="", remove="on")
        assert "Its removal takes effect then" in last_message(r)
        audit = PlayerAuditLog.objects.filter(player=player, field__startswith="loss_limit").order_by("id")
        assert [(row.field, row.changed_by) for row in audit] == [
            ("loss_limit_day_EUR", admin_user.username),
            ("loss_limit_day_EUR_pending", admin_user.username),
            ("loss_limit_day_EUR_pending", admin_user.username),
        ]

    @pytest.mark.parametrize("amount", ["-5", "20.001", "1,000", "abc"])
    def test_a_bad_amount_is_shown_on_the_form_and_sets_nothing(self, admin_client, sandbox, amount):
        player = demo_player()
        r = self.post(admin_client, player, amount=amount)
        assert r.status_code == 200 and r.context["form"].errors["amount"]
        assert not player.loss_limits.exists()

    @pytest.mark.parametrize("currency, typed, minor", [("EUR", "250.50", 25_050), ("JPY", "250", 250)])
    def test_the_amount_is_typed_in_the_chosen_currency(self, admin_client, sandbox, currency, typed, minor):
        """Not minor units: Django's integer field took "250.00" for 250 minor units, EUR 2.50."""
        player = demo_player()
        r = self.post(admin_client, player, amount=typed, currency=currency)
        assert r.status_code == 302
        assert player.loss_limits.get(currency_id=currency).amount == minor

    def test_more_places_than_the_chosen_currency_has_are_refused(self, admin_client, sandbox):
        r = self.post(admin_client, demo_player(), amount="250.5", currency="JPY")
        assert r.context["form"].errors["amount"] == [
            "JPY has no decimal places, e.g. 25000, written without thousands separators."
        ]

    def test_staff_are_told_which_currencies_the_limit_leaves_without_play(self, admin_client, sandbox):
        from sessions.models import GameSession
        from wallet.services import wallet_deposit
        from wallet.tests.test_api import launch

        player = demo_player()
        wallet_deposit(player_id=player.player_id, currency="USD", amount=1_000, created_by="t", reason="test")
        launch(currency="USD")
        r = self.post(admin_client, player, amount="20.00")
        assert last_message(r) == (
            "The day loss limit in EUR is 20.00 EUR, in force now. Games in USD (no loss limit per day) are "
            "refused, and their open sessions closed, until a limit of that period is set there too: a limit "
            "counts only its own currency's bets."
        )
        assert not GameSession.objects.filter(player=player, currency_id="USD", closed_at__isnull=True).exists()
        r = self.post(admin_client, player, amount="20", currency="USD")
        assert last_message(r) == "The day loss limit in USD is 20.00 USD, in force now."

    def test_staff_who_may_only_view_players_cannot_set_limits(self, client, sandbox, django_user_model):
        from django.contrib.auth.models import Permission

        viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
        # Changing a player is not enough: the limits need their own permission too.
        viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_player", "change_player"]))
        client.force_login(viewer)
        player = demo_player()
        r = self.post(client, player, amount="100")
        assert r.status_code == 302 and not player.loss_limits.exists()
