"""A self-exclusion or time-out in force holds until its end: the player cannot shorten it, and
staff can only with the permission the operator gives for it and a reason in the audit log.
The service holds it under the player's lock; the admin's form tells staff why first."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from casino_platform.errors import ValidationFailed
from casino_platform.tests.locks import until_another_waits_for_a_lock
from casino_platform.tests.pages import form_as_shown
from players.models import Player, PlayerAuditLog
from players.services import (
    player_extend_restriction,
    player_self_exclusion_resume,
    player_update,
    player_update_by_staff,
)
from players.tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

FIELDS = ["self_excluded_until", "timed_out_until"]


def restricted(field: str, until) -> Player:
    player = PlayerFactory()
    player_extend_restriction(player=player, field=field, until=until, changed_by="player", reason="asked")
    return Player.objects.get(pk=player.pk)


def audit(player: Player, field: str) -> list[tuple[str, str, str]]:
    return list(
        PlayerAuditLog.objects.filter(player=player, field=field)
        .order_by("id")
        .values_list("new_value", "changed_by", "reason")
    )


class TestService:
    @pytest.mark.parametrize("field", FIELDS)
    @pytest.mark.parametrize("ends", ["lifted", "sooner"])
    def test_ending_one_in_force_early_is_refused_without_leave(self, field, ends):
        until = timezone.now() + timedelta(days=30)
        player = restricted(field, until)
        new = None if ends == "lifted" else until - timedelta(days=29)
        with pytest.raises(ValidationFailed) as refused:
            player_update(player=player, changed_by="support", reason="asked to", **{field: new})
        assert "can be extended, not ended early" in refused.value.message
        assert refused.value.details == {field: [f"before the current end, {until.isoformat()}"]}
        assert getattr(Player.objects.get(pk=player.pk), field) == until
        assert len(audit(player, field)) == 1  # only the player's own

    @pytest.mark.parametrize("field", FIELDS)
    def test_with_leave_it_still_needs_a_reason(self, field):
        until = timezone.now() + timedelta(days=30)
        player = restricted(field, until)
        with pytest.raises(ValidationFailed) as refused:
            player_update_by_staff(
                player=player, changed_by="compliance", reason="  ", lift_early=True, changes={field: None}
            )
        assert refused.value.details == {"reason": ["required"]}
        assert getattr(Player.objects.get(pk=player.pk), field) == until

    @pytest.mark.parametrize("field", FIELDS)
    def test_with_leave_and_a_reason_it_ends_and_the_audit_log_says_why(self, field):
        player = restricted(field, timezone.now() + timedelta(days=30))
        player_update_by_staff(
            player=player,
            changed_by="compliance",
            reason="entered on the wrong account",
            lift_early=True,
            changes={field: None},
        )
        assert getattr(Player.objects.get(pk=player.pk), field) is None
        assert audit(player, field)[-1] == ("", "compliance", "entered on the wrong account")

    @pytest.mark.parametrize("field", FIELDS)
    def test_starting_extending_or_replacing_a_past_one_needs_no_leave(self, field):
        now = timezone.now()
        player = PlayerFactory()
        player_update(player=player, changed_by="support", reason="on the phone", **{field: now + timedelta(days=1)})
        player_update(player=player, changed_by="support", reason="on the phone", **{field: now + timedelta(days=9)})
        # Over, and (a self-exclusion) play resumed after the player asked: nothing left to lift.
        Player.objects.filter(pk=player.pk).update(
            **{field: now - timedelta(seconds=2)}, self_exclusion_resumes_at=now - timedelta(seconds=1)
        )
        player_update(player=player, changed_by="support", reason="over", **{field: None})
        assert getattr(Player.objects.get(pk=player.pk), field) is None

    def test_other_fields_changed_with_a_refused_lift_are_not_kept(self):
        player = restricted("self_excluded_until", timezone.now() + timedelta(days=30))
        with pytest.raises(ValidationFailed):
            player_update(
                player=player, changed_by="support", reason="edit", display_name="Renamed", self_excluded_until=None
            )
        assert Player.objects.get(pk=player.pk).display_name == player.display_name


@pytest.fixture
def staff(client, django_user_model):
    """A staff member who may change players (not lift restrictions unless given it)."""
    user = django_user_model.objects.create_user("support", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_player", "change_player"]))
    client.force_login(user)
    return user


def allow_lifting(user) -> None:
    user.user_permissions.add(Permission.objects.get(codename="lift_restriction"))


class TestAdmin:
    def post(self, client, player: Player, **changes):
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(client.get(url))
        for field, value in changes.items():
            if field in FIELDS:  # the split date and time inputs
                data[f"{field}_0"], data[f"{field}_1"] = (
                    ("", "") if value is None else (value.strftime("%Y-%m-%d"), value.strftime("%H:%M:%S"))
                )
            else:
                data[field] = value
        return client.post(url, data)

    @pytest.mark.parametrize("field", FIELDS)
    def test_staff_without_leave_are_told_on_the_field_and_nothing_changes(self, client, staff, field):
        until = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
        player = restricted(field, until)
        r = self.post(client, player, **{field: None, "change_reason": "player called", "display_name": "Renamed"})
        assert r.status_code == 200
        errors = r.context["adminform"].form.errors
        assert "it can be extended, not ended early" in errors[field][0]
        assert '"Can end a self-exclusion or time-out early"' in errors[field][0]
        player.refresh_from_db()
        assert getattr(player, field) == until and player.display_name != "Renamed"

    @pytest.mark.parametrize("asked", [False, True], ids=["waiting", "cooling-off"])
    def test_staff_without_leave_cannot_clear_an_ended_self_exclusion_play_still_waits_for(self, client, staff, asked):
        ended = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
        player = PlayerFactory(self_excluded_until=ended)
        if asked:
            player_self_exclusion_resume(player=player, changed_by="player", reason="asked")
        player.refresh_from_db()
        r = self.post(client, player, self_excluded_until=None, change_reason="player called")
        assert r.status_code == 200
        [error] = r.context["adminform"].form.errors["self_excluded_until"]
        assert "play waits for the player's request to play again and the cooling-off" in error
        player.refresh_from_db()
        assert player.self_excluded_until == ended
        allow_lifting(staff)
        r = self.post(client, player, self_excluded_until=None, change_reason="entered on the wrong account")
        assert r.status_code == 302
        player.refresh_from_db()
        assert (player.self_excluded_until, player.self_exclusion_resumes_at) == (None, None)

    def test_staff_without_leave_may_extend_and_the_reason_given_is_audited(self, client, staff):
        until = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
        player = restricted("self_excluded_until", until)
        longer = until + timedelta(days=150)
        r = self.post(client, player, self_excluded_until=longer, change_reason="player asked for six months")
        assert r.status_code == 302
        assert Player.objects.get(pk=player.pk).self_excluded_until == longer
        assert audit(player, "self_excluded_until")[-1] == (str(longer), "support", "player asked for six months")

    def test_staff_with_leave_must_say_why(self, client, staff):
        allow_lifting(staff)
        until = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
        player = restricted("timed_out_until", until)
        r = self.post(client, player, timed_out_until=None)
        assert r.status_code == 200
        assert r.context["adminform"].form.errors["change_reason"] == [
            "Say why the time-out ends early: it is kept in the audit log."
        ]
        assert Player.objects.get(pk=player.pk).timed_out_until == until

        r = self.post(client, player, timed_out_until=None, change_reason="set on the wrong account, ticket 4411")
        assert r.status_code == 302
        assert Player.objects.get(pk=player.pk).timed_out_until is None
        assert audit(player, "timed_out_until")[-1] == ("", "support", "set on the wrong account, ticket 4411")

    @pytest.mark.parametrize("may_lift", [False, True])
    def test_a_page_opened_before_the_player_self_excluded_leaves_it_alone(self, client, staff, may_lift):
        """Staff open the page of a player whose exclusion has ended; the player excludes
        themselves again; staff save the page to correct another field, with a reason. The
        page showed the old end and staff did not touch it: the new exclusion stands."""
        if may_lift:
            allow_lifting(staff)
        player = PlayerFactory()
        old_end = (timezone.now() - timedelta(days=1)).replace(microsecond=0)
        Player.objects.filter(pk=player.pk).update(self_excluded_until=old_end)
        url = reverse("admin:players_player_change", args=[player.pk])
        stale = form_as_shown(client.get(url))
        new_end = (timezone.now() + timedelta(days=180)).replace(microsecond=0)
        player_extend_restriction(
            player=player, field="self_excluded_until", until=new_end, changed_by="player", reason="asked"
        )
        r = client.post(url, {**stale, "display_name": "Ana Corrected", "change_reason": "typo in the name"})
        assert r.status_code == 302
        player.refresh_from_db()
        assert (player.self_excluded_until, player.display_name) == (new_end, "Ana Corrected")

    def test_a_change_to_a_restriction_the_player_changed_since_is_refused(self, client, staff):
        """The same stale page, but staff clear the exclusion they saw as over: they did not
        see the one in force, so even with leave and a reason it is not lifted."""
        allow_lifting(staff)
        player = PlayerFactory()
        Player.objects.filter(pk=player.pk).update(self_excluded_until=timezone.now() - timedelta(days=1))
        url = reverse("admin:players_player_change", args=[player.pk])
        stale = form_as_shown(client.get(url))
        new_end = (timezone.now() + timedelta(days=180)).replace(microsecond=0)
        player_extend_restriction(
            player=player, field="self_excluded_until", until=new_end, changed_by="player", reason="asked"
        )
        stale.update(self_excluded_until_0="", self_excluded_until_1="", change_reason="clearing an old one")
        r = client.post(url, stale)
        assert r.status_code == 200
        [error] = r.context["adminform"].form.errors["self_excluded_until"]
        assert error.startswith("The self-exclusion has changed since this page was opened: it is now until ")
        assert Player.objects.get(pk=player.pk).self_excluded_until == new_end

    def test_the_service_refuses_a_restriction_changed_since_it_was_read(self):
        player = restricted("timed_out_until", timezone.now() + timedelta(hours=2))
        with pytest.raises(ValidationFailed) as refused:
            player_update_by_staff(
                player=player,
                changed_by="support",
                reason="longer break",
                changes={"timed_out_until": timezone.now() + timedelta(days=3)},
                seen={"timed_out_until": None},
            )
        assert refused.value.details == {"timed_out_until": ["changed since it was read"]}


@pytest.mark.django_db(transaction=True)
def test_a_player_s_exclusion_committed_while_staff_save_is_not_overwritten(client, staff):
    """The form is checked against the player as read; the player's own exclusion commits
    while the save waits for their lock; the service, under the lock, refuses staff's change
    to it. The admin then says so and records no change in its history."""
    from django.contrib.admin.models import LogEntry

    player = PlayerFactory()
    url = reverse("admin:players_player_change", args=[player.pk])
    data = form_as_shown(client.get(url))
    staff_end = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    data.update(
        self_excluded_until_0=staff_end.strftime("%Y-%m-%d"),
        self_excluded_until_1=staff_end.strftime("%H:%M:%S"),
        change_reason="player asked on the phone",
    )
    answer: dict = {}

    def save_page() -> None:
        try:
            answer["response"] = client.post(url, data)
        finally:
            connection.close()  # this thread's own

    player_end = timezone.now() + timedelta(days=365)
    with transaction.atomic():
        player_extend_restriction(
            player=player, field="self_excluded_until", until=player_end, changed_by="player", reason="a year"
        )
        save = threading.Thread(target=save_page)
        save.start()
        until_another_waits_for_a_lock(save, "staff's save")
    save.join(30)
    r = answer["response"]
    assert (r.status_code, r["Location"]) == (302, url)
    shown = [str(m) for m in r.wsgi_request._messages]
    assert len(shown) == 1 and shown[0].startswith("The self-exclusion has changed since it was read")
    assert Player.objects.get(pk=player.pk).self_excluded_until == player_end
    assert not LogEntry.objects.filter(object_id=str(player.pk)).exists()
