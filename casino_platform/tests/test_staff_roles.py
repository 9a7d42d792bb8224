"""The back office's roles (casino_platform/staff_roles.py, `manage.py staff_roles`): the groups
are made and kept as defined, money moves only through Finance, and a member of each role can
open every page the back office shows them a link to."""

import io
import re
from collections import deque
from html import unescape

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.urls import reverse

from casino_platform.staff_roles import ROLES, staff_roles_drift
from casino_platform.tests.pages import form_as_shown
from casino_platform.tests.test_admin_crawl import seed
from ledger.models import JournalTransaction
from players.models import Player
from sessions.models import OperatorApiKey
from wallet.models import StaffMovement, Wallet, Withdrawal
from wallet.services import staff_money_move

_ADMIN_LINK = re.compile(r'<a\b[^>]*\shref="(/admin/[^"#]*)"')
# Links every member of staff has that are not the back office's pages.
_NOT_PAGES = ("/admin/logout/", "/admin/password_change/", "/admin/jsi18n/", "/admin/r/")
# Pages opened per role at most: the index, every list it shows, a few rows of each, and every
# link on those rows' pages.
_ROWS_PER_LIST = 3


def _staff_roles(*args: str) -> str:
    out = io.StringIO()
    call_command("staff_roles", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_apply_creates_each_role_s_group_with_exactly_its_permissions_and_check_then_passes():
    with pytest.raises(CommandError, match="Support, Finance, Compliance, Integrations differ from their roles"):
        _staff_roles("--check")

    out = _staff_roles("--apply")

    for role in ROLES:
        assert f"{role.name} ({len(role.permissions)} permissions; created)" in out
        held = Group.objects.get(name=role.name).permissions.select_related("content_type")
        assert {f"{p.content_type.app_label}.{p.codename}" for p in held} == role.permissions
    assert "as its role" in _staff_roles("--check")
    assert not any(d.differs for d in staff_roles_drift())


@pytest.mark.django_db
def test_a_group_changed_by_hand_is_named_by_check_and_set_back_by_apply():
    _staff_roles("--apply")
    support = Group.objects.get(name="Support")
    support.permissions.add(Permission.objects.get(content_type__app_label="wallet", codename="change_wallet"))
    support.permissions.remove(Permission.objects.get(content_type__app_label="players", codename="view_player"))
    support.user_set.add(User.objects.create_user("sam"))
    Group.objects.create(name="Night shift")  # the operator's own: not the platform's to judge

    with pytest.raises(CommandError, match=r"^Support differs from its role"):
        _staff_roles("--check")
    shown = _staff_roles()
    assert "Support (" in shown and "1 member, differs from its role" in shown
    assert "    lacks players.view_player" in shown and "    also holds wallet.change_wallet" in shown

    applied = _staff_roles("--apply")

    assert "    added players.view_player" in applied and "    removed wallet.change_wallet" in applied
    assert "Night shift" not in applied
    assert not any(d.differs for d in staff_roles_drift())
    assert support.user_set.get().username == "sam"  # members stay


def test_money_leaves_only_through_finance_and_no_role_deletes_or_writes_the_ledger():
    moving = {"wallet.change_wallet", "wallet.review_withdrawal", "wallet.approve_staffmovement"}
    for role in ROLES:
        assert role.name == "Finance" or not role.permissions & moving, role.name
        assert not [p for p in role.permissions if p.split(".")[1].startswith("delete_")], role.name
        # What is written only by the money services: their admins are read-only whatever one holds.
        assert not {p for p in role.permissions if p.startswith(("ledger.add_", "ledger.change_"))} - {
            "ledger.change_currency"
        }, role.name
        # The operator's policy, given by name: ending a player's restriction early, and a key's scopes.
        assert not {"players.lift_restriction", "game_sessions.grant_scopes"} & role.permissions, role.name
        assert role.name == "Compliance" or "players.change_kyc" not in role.permissions, role.name
    finance = next(r for r in ROLES if r.name == "Finance")
    assert moving | {"ledger.export_reports"} <= finance.permissions


class TestEachRoleOpensWhatItIsShown(TestCase):
    """A member of each role walks the back office from its index: every list it shows, a few
    rows of each, and every link on those rows' pages. A link shown that answers 403, 404 or
    500, or sends them back with "You may not…", is a page the role should not have been
    shown, or one it needs and lacks."""

    @classmethod
    def setUpTestData(cls) -> None:
        seed()
        _staff_roles("--apply")
        cls.members = {}
        for role in ROLES:
            user = User.objects.create_user(role.name.lower(), is_staff=True)
            user.groups.add(Group.objects.get(name=role.name))
            cls.members[role.name] = user

    def walk(self, role: str) -> tuple[int, list[str]]:
        self.client.force_login(self.members[role])
        problems: list[str] = []
        seen: set[str] = set()
        queue: deque[tuple[str, int]] = deque([(reverse("admin:index"), 0)])
        while queue:
            url, depth = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            response = self.client.get(url, follow=True)
            body = response.content.decode()
            if response.status_code != 200:
                problems.append(f"{url}: {response.status_code}")
                continue
            if "You may not" in body:
                problems.append(f"{url}: sent back with {re.search(r'You may not[^<]*', body).group(0)!r}")
            if depth >= 3:
                continue
            links = [unescape(href) for href in _ADMIN_LINK.findall(body)]
            links = [link for link in links if not link.startswith(_NOT_PAGES)]
            if depth == 1:  # a list: its rows' pages, not every filter and sort
                rows = [link for link in links if re.search(r"/\d+/change/$", link)]
                others = [link for link in links if "?" not in link and not re.search(r"/\d+/change/$", link)]
                links = rows[:_ROWS_PER_LIST] + others
            queue.extend((link, depth + 1) for link in links)
        return len(seen), problems

    def assert_walks(self, role: str) -> None:
        pages, problems = self.walk(role)
        assert pages > 5, f"{role} was shown {pages} pages"
        assert not problems, f"{role}: {len(problems)} of {pages} pages:\n" + "\n".join(problems)

    def test_support(self) -> None:
        self.assert_walks("Support")

    def test_finance(self) -> None:
        self.assert_walks("Finance")

    def test_compliance(self) -> None:
        self.assert_walks("Compliance")

    def test_integrations(self) -> None:
        self.assert_walks("Integrations")

    def test_support_blocks_a_player_and_cannot_move_money(self) -> None:
        self.client.force_login(self.members["Support"])
        player = Player.objects.get(player_id="p_demo_1")
        response = self.client.post(
            reverse("admin:players_player_changelist"),
            {"action": "block_players", "_selected_action": [player.pk], "confirm": "1", "reason": "asked by phone"},
        )
        assert response.status_code == 302
        player.refresh_from_db()
        assert player.status == Player.Status.BLOCKED

        wallet = Wallet.objects.get(player__player_id="p_demo_2", currency_id="USD")
        journals = JournalTransaction.objects.count()
        response = self.client.post(
            reverse("admin:wallet_wallet_move", args=[wallet.pk]),
            {"kind": "deposit", "amount": "10.00", "reason": "goodwill"},
            follow=True,
        )
        assert b"You may not move money." in response.content
        assert JournalTransaction.objects.count() == journals
        assert Wallet.objects.get(pk=wallet.pk).balance == wallet.balance

    def test_integrations_sees_no_player(self) -> None:
        self.client.force_login(self.members["Integrations"])
        assert self.client.get(reverse("admin:players_player_changelist")).status_code == 403
        assert self.client.get(reverse("admin:wallet_wallet_changelist")).status_code == 403
        assert self.client.get(reverse("admin:provider_provider_changelist")).status_code == 200

    def test_each_role_is_shown_the_links_it_may_follow(self) -> None:
        player = Player.objects.get(player_id="p_demo_1")
        held = reverse("admin:wallet_withdrawal_review", args=[Withdrawal.objects.get(reference="crawl-po-held").pk])
        shown = {}
        for role in ("Support", "Finance"):
            self.client.force_login(self.members[role])
            shown[role] = (
                self.client.get(reverse("admin:players_player_change", args=[player.pk])).content.decode()
                + self.client.get(reverse("admin:wallet_withdrawal_changelist")).content.decode()
            )
        assert "Set a loss limit…" in shown["Support"] and "Set a loss limit…" not in shown["Finance"]
        assert "Move money…" in shown["Finance"] and "Move money…" not in shown["Support"]
        assert held in shown["Finance"] and held not in shown["Support"]

    def test_a_requester_without_approval_is_shown_their_own_movement_s_review_to_take_it_back(self) -> None:
        support = self.members["Support"]
        support.user_permissions.add(Permission.objects.get(codename="change_wallet"))
        wallet = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR")
        own = staff_money_move(wallet=wallet, kind="deposit", amount=70_000, staff="staff:support", reason="bank")
        self.client.force_login(support)

        page = self.client.get(reverse("admin:wallet_staffmovement_changelist")).content.decode()

        assert reverse("admin:wallet_staffmovement_review", args=[own.waiting.pk]) in page
        others = StaffMovement.objects.exclude(pk=own.waiting.pk).filter(status=StaffMovement.Status.PENDING)
        assert others and not [m for m in others if reverse("admin:wallet_staffmovement_review", args=[m.pk]) in page]

    def test_support_cannot_verify_a_player_and_integrations_cannot_widen_a_key(self) -> None:
        self.client.force_login(self.members["Support"])
        player = Player.objects.get(player_id="p_kyc_pending")
        page = self.client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert page.status_code == 200
        assert "kyc_status" not in page.context["adminform"].form.fields  # shown, not editable
        self.client.force_login(self.members["Compliance"])
        page = self.client.get(reverse("admin:players_player_change", args=[player.pk]))
        assert "kyc_status" in page.context["adminform"].form.fields

        key = OperatorApiKey.objects.get()
        scopes = key.scopes
        self.client.force_login(self.members["Integrations"])
        page = self.client.get(reverse("admin:game_sessions_operatorapikey_change", args=[key.pk]))
        assert page.status_code == 200 and "scopes" not in page.context["adminform"].form.fields
        response = self.client.post(
            reverse("admin:game_sessions_operatorapikey_change", args=[key.pk]),
            {"name": key.name, "is_active": "on", "scopes": ["lobby", "cashier", "kyc"], "rate_limit_per_second": 7},
        )
        assert response.status_code == 302
        key.refresh_from_db()
        assert key.rate_limit_per_second == 7 and key.scopes == scopes

    def test_support_records_a_country_and_only_compliance_moves_one_recorded(self) -> None:
        """As through the operator API, where only a key with the `kyc` scope moves a recorded
        country: it decides which games the player may launch."""
        player = Player.objects.get(player_id="p_demo_1")
        url = reverse("admin:players_player_change", args=[player.pk])
        self.client.force_login(self.members["Support"])
        page = self.client.get(url)
        assert "country" not in page.context["adminform"].form.fields  # shown, not editable
        response = self.client.post(url, {**form_as_shown(page), "country": "GB", "change_reason": "moved"})
        assert response.status_code == 302
        assert Player.objects.get(pk=player.pk).country == player.country != "GB"

        Player.objects.filter(pk=player.pk).update(country="")
        page = self.client.get(url)
        assert "country" in page.context["adminform"].form.fields
        response = self.client.post(url, {**form_as_shown(page), "country": "GB", "change_reason": "signed up"})
        assert response.status_code == 302 and Player.objects.get(pk=player.pk).country == "GB"

        self.client.force_login(self.members["Compliance"])
        page = self.client.get(url)
        response = self.client.post(url, {**form_as_shown(page), "country": "MT", "change_reason": "moved"})
        assert response.status_code == 302 and Player.objects.get(pk=player.pk).country == "MT"

    def test_a_country_recorded_while_support_s_page_was_open_is_not_moved(self) -> None:
        """Read-only is decided as the post is read; a country recorded between that read
        and the save (the API's sign-up racing the page) is refused under the player's lock,
        whatever the post carries."""
        from unittest import mock

        import players.admin

        player = Player.objects.get(player_id="p_demo_1")
        Player.objects.filter(pk=player.pk).update(country="")
        url = reverse("admin:players_player_change", args=[player.pk])
        self.client.force_login(self.members["Support"])
        page = self.client.get(url)
        data = {**form_as_shown(page), "country": "GB", "change_reason": "signed up"}
        data.pop("initial-country", None)  # a post without the page's copy: no check of its own
        real = players.admin.player_update_by_staff

        def recorded_meanwhile(**kwargs):
            Player.objects.filter(pk=player.pk).update(country="MT")
            return real(**kwargs)

        with mock.patch("players.admin.player_update_by_staff", side_effect=recorded_meanwhile):
            response = self.client.post(url, data, follow=True)
        assert "only staff who may change KYC" in response.content.decode()
        assert Player.objects.get(pk=player.pk).country == "MT"

    def test_integrations_switches_a_key_off_but_not_back_on_while_it_holds_money_scopes(self) -> None:
        key = OperatorApiKey.objects.get()
        assert {"cashier", "kyc"} & set(key.scopes)
        url = reverse("admin:game_sessions_operatorapikey_change", args=[key.pk])
        self.client.force_login(self.members["Integrations"])
        form = {"name": key.name, "rate_limit_per_second": key.rate_limit_per_second}

        assert self.client.post(url, form).status_code == 302  # is_active unticked: revoked
        assert not OperatorApiKey.objects.get().is_active
        response = self.client.post(url, {**form, "is_active": "on"})

        assert response.status_code == 200
        assert "switching it back on needs the permission" in str(response.context["adminform"].form.errors)
        assert not OperatorApiKey.objects.get().is_active
        self.client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
        assert self.client.post(url, {**form, "is_active": "on", "scopes": key.scopes}).status_code == 302
        assert OperatorApiKey.objects.get().is_active
