"""A player's game sessions for the casino: GET /api/v1/players/{player_id}/sessions (newest
first, `?state=`) and POST .../sessions/close, the logout that closes every open one."""

import io
import itertools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from casino_platform import clock
from casino_platform.tests.locks import together_behind_a_lock
from ledger.reconciliation import ledger_reconcile
from players.models import Player
from players.services import player_sessions_close, player_update
from sessions.models import GameSession
from sessions.selectors import SESSION_STATES, player_sessions, session_state
from sessions.services import session_token_hash
from wallet.models import Wallet
from wallet.tests.api_client import ProviderClient, debit_payload, launch
from wallet.tests.test_cashier import call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def sessions_of(client, player_id: str, **query) -> dict:
    path = f"{player_id}/sessions" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    r = call(client, "GET", path)
    assert r.status_code == 200, r.content
    return r.json()


def session_of(token: str) -> GameSession:
    return GameSession.objects.get(token_hash=session_token_hash(token))


class TestList:
    def test_newest_first_as_the_session_s_own_page_gives_each(self, client, sandbox):
        first, second = launch("p_demo_1"), launch("p_demo_1", "sandbox:slot")
        launch("p_kyc_pending")  # another player's
        page = sessions_of(client, "p_demo_1")
        assert [s["session_id"] for s in page["results"]] == [str(session_of(second).pk), str(session_of(first).pk)]
        assert (page["next"], page["previous"]) == (None, None)
        state = client.get(
            f"/api/v1/sessions/{session_of(second).pk}", headers={"Authorization": "Token sandbox-operator-token"}
        )
        listed = page["results"][0]
        assert {k: v for k, v in listed.items() if k != "seconds_left"} == {
            k: v for k, v in state.json().items() if k != "seconds_left"
        }
        assert (listed["state"], listed["game_id"], listed["currency"]) == ("open", "sandbox:slot", "EUR")

    def test_by_state(self, client, sandbox):
        now = clock.now()
        tokens = {name: launch("p_demo_1") for name in ("open", "closed", "expired", "ended")}
        GameSession.objects.filter(pk=session_of(tokens["closed"]).pk).update(closed_at=now - timedelta(minutes=1))
        GameSession.objects.filter(pk=session_of(tokens["expired"]).pk).update(expires_at=now - timedelta(minutes=1))
        GameSession.objects.filter(pk=session_of(tokens["ended"]).pk).update(
            absolute_expires_at=now - timedelta(minutes=1)
        )
        for state, token in tokens.items():
            listed = sessions_of(client, "p_demo_1", state=state)["results"]
            assert [(s["session_id"], s["state"]) for s in listed] == [(str(session_of(token).pk), state)]

    def test_the_query_keeps_exactly_what_session_state_says(self, sandbox):
        """Every mix of idle expiry, end and close before, between and after: the query's
        filter for each state keeps the sessions session_state gives that state."""
        now = clock.now()
        player = Player.objects.get(player_id="p_demo_1")
        offsets = [timedelta(minutes=m) for m in (-20, -10, 0, 10, 20)]
        template = session_of(launch("p_demo_1"))
        made = []
        for expires, ends, closed in itertools.product(offsets, offsets, [None, *offsets]):
            template.pk = None
            template.token_hash = f"grid-{len(made)}"
            template.expires_at, template.absolute_expires_at = now + expires, now + ends
            template.closed_at = None if closed is None else now + closed
            template.save()
            made.append(template.pk)
        GameSession.objects.exclude(pk__in=made).delete()
        expected = {state: set() for state in SESSION_STATES}
        for session in GameSession.objects.select_related("player", "game"):
            expected[session_state(session=session, now=now)["state"]].add(session.pk)
        assert all(expected.values())  # each state has some
        for state in SESSION_STATES:
            assert (
                set(player_sessions(player=player, state=state, now=now).values_list("pk", flat=True))
                == expected[state]
            ), state

    def test_pages(self, client, sandbox):
        tokens = [launch("p_demo_1") for _ in range(5)]
        newest_first = [str(session_of(t).pk) for t in reversed(tokens)]
        page = sessions_of(client, "p_demo_1", limit=2)
        seen = [s["session_id"] for s in page["results"]]
        while page["next"]:
            r = client.get(page["next"], headers={"Authorization": "Token sandbox-operator-token"})
            page = r.json()
            seen += [s["session_id"] for s in page["results"]]
        assert seen == newest_first

    def test_an_open_page_reads_by_the_player_s_index(self, sandbox):
        launch("p_demo_1")
        player = Player.objects.get(player_id="p_demo_1")
        with connection.cursor() as cursor:
            sql, params = player_sessions(player=player, state="open").query.sql_with_params()
            # Priced out as on a table of millions: on the test's tiny one, grown by the rows
            # earlier tests rolled back, the player's foreign-key index and a sort came cheaper.
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("SET enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")
        assert "session_player_idx" in plan, plan

    @pytest.mark.parametrize(
        ("query", "field"),
        [("state=gone", "state"), ("limit=0", "limit"), ("limit=201", "limit"), ("cursor=bad", "cursor")],
    )
    def test_bad_queries_are_validation_errors(self, client, sandbox, query, field):
        r = call(client, "GET", f"p_demo_1/sessions?{query}")
        assert r.status_code == 400, r.content
        assert r.json()["code"] == "VALIDATION_ERROR" and field in r.json()["details"]

    def test_an_unknown_player_and_no_token(self, client, sandbox):
        r = call(client, "GET", "nobody/sessions")
        assert (r.status_code, r.json()["code"]) == (404, "PLAYER_NOT_FOUND")
        assert call(client, "GET", "p_demo_1/sessions", headers={}).status_code == 401
        assert call(client, "POST", "nobody/sessions/close").json()["code"] == "PLAYER_NOT_FOUND"
        assert call(client, "POST", "p_demo_1/sessions/close", headers={}).status_code == 401


class TestLogout:
    def test_every_open_session_is_closed_and_play_on_them_refused_but_wins_paid(self, client, sandbox):
        dice, slot = launch("p_demo_1"), launch("p_demo_1", "sandbox:slot")
        other = launch("p_kyc_pending")
        provider = ProviderClient(client)
        assert provider.post("debit", debit_payload(dice, "bet-before")).status == 200
        r = call(client, "POST", "p_demo_1/sessions/close")
        assert r.status_code == 200
        assert r.json() == {"player_id": "p_demo_1", "closed": 2}
        assert sessions_of(client, "p_demo_1", state="open")["results"] == []
        assert {s["state"] for s in sessions_of(client, "p_demo_1")["results"]} == {"closed"}
        refused = provider.post("debit", debit_payload(slot, "bet-after"))
        assert (refused.status, refused.body["code"]) == (401, "SESSION_EXPIRED")
        win = {
            "transaction_id": "win-after",
            "player_id": "p_demo_1",
            "round_id": "r-bet-before",
            "game_id": "sandbox:dice",
            "amount": 300,
            "currency": "EUR",
            "reason": "win",
        }
        assert provider.post("credit", win).status == 200  # owed money is always paid
        assert provider.post("debit", debit_payload(other, "bet-other")).status == 200  # another player plays on
        # Again: nothing more to close.
        assert call(client, "POST", "p_demo_1/sessions/close").json() == {"player_id": "p_demo_1", "closed": 0}

    def test_a_session_launched_under_a_longer_cap_is_listed_and_closed(self, client, sandbox, settings):
        """The cap lowered since a launch: the session keeps its own end, and is still open."""
        long_ago = launch("p_demo_1")
        earlier = clock.now() - timedelta(hours=20)
        GameSession.objects.filter(pk=session_of(long_ago).pk).update(created_at=earlier)
        settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS = 4 * 3600
        listed = sessions_of(client, "p_demo_1", state="open")["results"]
        assert [s["session_id"] for s in listed] == [str(session_of(long_ago).pk)]
        assert call(client, "POST", "p_demo_1/sessions/close").json()["closed"] == 1

    def test_the_casino_s_logouts_are_not_in_the_player_s_audit_log(self, client, sandbox):
        from players.models import PlayerAuditLog

        launch("p_demo_1")
        before = PlayerAuditLog.objects.count()
        assert call(client, "POST", "p_demo_1/sessions/close").json()["closed"] == 1
        assert PlayerAuditLog.objects.count() == before

    def test_sessions_already_over_keep_their_state(self, client, sandbox):
        expired = launch("p_demo_1")
        GameSession.objects.filter(pk=session_of(expired).pk).update(expires_at=clock.now() - timedelta(seconds=1))
        assert call(client, "POST", "p_demo_1/sessions/close").json()["closed"] == 0
        assert session_of(expired).closed_at is None
        assert sessions_of(client, "p_demo_1")["results"][0]["state"] == "expired"

    def test_in_the_schema(self, client, sandbox):
        schema = client.get("/api/schema/?format=json").json()
        assert "/api/v1/players/{player_id}/sessions" in schema["paths"]
        assert "post" in schema["paths"]["/api/v1/players/{player_id}/sessions/close"]


@pytest.mark.django_db(transaction=True)
def test_a_logout_racing_the_player_s_bets_on_real_postgresql():
    """Bets on the player's sessions (each sliding it), the logout and a second logout or the
    account's close, at once, five times: each bet is taken or refused, never a 500 or a
    deadlock; the wallet lost exactly what was taken; no session is left open."""
    call_command("seed_sandbox", stdout=io.StringIO())
    wallet = Wallet.objects.get(player__player_id="p_demo_1", currency_id="EUR")
    start = wallet.balance
    outcomes: Counter[object] = Counter()
    taken = 0
    for attempt in range(5):
        tokens = [launch("p_demo_1") for _ in range(3)]
        # Last seen two minutes ago: each bet slides its session, under the session's lock.
        GameSession.objects.filter(player__player_id="p_demo_1", closed_at__isnull=True).update(
            last_seen_at=clock.now() - timedelta(minutes=2)
        )
        barrier = threading.Barrier(8)

        def bet(n: int, tokens=tokens, attempt=attempt, barrier=barrier):
            try:
                barrier.wait()
                signed = ProviderClient(Client()).post("debit", debit_payload(tokens[n % 3], f"race-{attempt}-{n}"))
                return signed.status, signed.body.get("code")
            finally:
                connection.close()

        def logout(barrier=barrier):
            try:
                barrier.wait()
                return call(Client(), "POST", "p_demo_1/sessions/close").status_code, "logout"
            finally:
                connection.close()

        def account_close(barrier=barrier, attempt=attempt):
            try:
                barrier.wait()
                if attempt % 2:  # every other time the account closes too, which ends its sessions
                    return call(Client(), "POST", "p_demo_1/close", {"reason": "race"}).status_code, "logout"
                return call(Client(), "POST", "p_demo_1/sessions/close").status_code, "logout"
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda f: f(), [*(lambda n=n: bet(n) for n in range(6)), logout, account_close]))
        outcomes.update(results)
        if attempt % 2:
            player_update(player=Player.objects.get(player_id="p_demo_1"), changed_by="t", reason="t", status="active")
        taken += 100 * sum(1 for status, code in results if status == 200 and code is None)
        assert not GameSession.objects.filter(player__player_id="p_demo_1", closed_at__isnull=True).exists()
    allowed = {(200, None), (401, "SESSION_EXPIRED"), (403, "PLAYER_BLOCKED"), (200, "logout")}
    assert set(outcomes) <= allowed, outcomes
    assert outcomes[(200, "logout")] == 10
    wallet.refresh_from_db()
    assert wallet.balance == start - taken
    assert ledger_reconcile().ok


@pytest.mark.django_db(transaction=True)
def test_a_bet_that_waited_for_the_logout_is_refused_not_slid_past_it():
    """The bet read its session open, then waited for the logout's lock to slide it: judged
    again on the row as the logout committed it, it is SESSION_EXPIRED and moves nothing."""
    call_command("seed_sandbox", stdout=io.StringIO())
    token = launch("p_demo_1")
    GameSession.objects.filter(pk=session_of(token).pk).update(last_seen_at=clock.now() - timedelta(minutes=2))
    player = Player.objects.get(player_id="p_demo_1")
    before = Wallet.objects.get(player=player, currency_id="EUR").balance

    def bet(_: int) -> tuple[int, str | None]:
        try:
            signed = ProviderClient(Client()).post("debit", debit_payload(token, "waited-for-the-logout"))
            return signed.status, signed.body.get("code")
        finally:
            connection.close()

    (answer,) = together_behind_a_lock(lambda: player_sessions_close(player=player), bet, 1)
    assert answer == (401, "SESSION_EXPIRED")
    assert Wallet.objects.get(player=player, currency_id="EUR").balance == before
    assert session_of(token).closed_at is not None and ledger_reconcile().ok


class TestAdmin:
    def test_staff_close_a_player_s_sessions_and_it_is_on_record(self, admin_client, sandbox):
        from django.urls import reverse

        from players.models import PlayerAuditLog
        from wallet.tests.test_admin import messages_of

        launch("p_demo_1")
        launch("p_demo_1", "sandbox:slot")
        other = launch("p_kyc_pending")
        players = Player.objects.filter(player_id__in=["p_demo_1", "p_low_balance"])
        r = admin_client.post(
            reverse("admin:players_player_changelist"),
            {
                "action": "close_game_sessions",
                "_selected_action": [p.pk for p in players],
                "confirm": "yes",
                "reason": "suspected bot play",
            },
            follow=True,
        )
        assert messages_of(r) == ["Closed 2 open game session(s) of 2 player(s)."]
        assert not GameSession.objects.filter(player__player_id="p_demo_1", closed_at__isnull=True).exists()
        assert session_of(other).closed_at is None
        log = PlayerAuditLog.objects.get(field="game_sessions")
        assert (log.player.player_id, log.old_value, log.new_value, log.changed_by, log.reason) == (
            "p_demo_1",
            "2 open",
            "closed",
            "admin",
            "suspected bot play",
        )

    def test_staff_close_chosen_sessions_and_the_page_saves_none(self, admin_client, client, sandbox):
        from django.urls import reverse

        from wallet.tests.test_admin import messages_of

        open_one, idle_one, closed_one, other = (launch("p_demo_1") for _ in range(4))
        GameSession.objects.filter(pk=session_of(idle_one).pk).update(expires_at=clock.now() - timedelta(minutes=1))
        GameSession.objects.filter(pk=session_of(closed_one).pk).update(closed_at=clock.now() - timedelta(hours=1))
        chosen = [session_of(t).pk for t in (open_one, idle_one, closed_one)]
        url = reverse("admin:game_sessions_gamesession_changelist")
        r = admin_client.post(url, {"action": "close_sessions", "_selected_action": chosen}, follow=True)
        assert messages_of(r) == ["Closed 1 open game session(s)."]
        assert [session_state(session=session_of(t))["state"] for t in (open_one, idle_one, closed_one, other)] == [
            "closed",
            "expired",
            "closed",
            "open",
        ]
        assert ProviderClient(client).post("debit", debit_payload(open_one, "d-after-close")).status == 401
        # On the player's record, as a close from the player's page is.
        from players.models import PlayerAuditLog

        logged = PlayerAuditLog.objects.filter(player__player_id="p_demo_1", field="game_sessions")
        assert list(logged.values_list("old_value", "new_value", "changed_by")) == [("1 open", "closed", "admin")]
        # The change page saves nothing: not a closed session reopened, not an expiry written back.
        change = reverse("admin:game_sessions_gamesession_change", args=[session_of(closed_one).pk])
        page = admin_client.get(change).content.decode()
        assert 'name="_save"' not in page
        before = session_of(closed_one).closed_at
        admin_client.post(change, {"closed_at_0": "", "closed_at_1": "", "_save": "Save"})
        assert session_of(closed_one).closed_at == before

    def test_staff_close_leaves_a_session_already_ended_out_of_its_count_and_record(self, sandbox, monkeypatch):
        """Played 90 minutes, then a 60-minute session time limit: the session has ended. Staff's
        "Close selected sessions" counted it as closed and wrote "1 open -> closed" on the
        player's record; it now closes, counts and records only the live ones."""
        from players.models import PlayerAuditLog
        from players.services import player_set_session_time_limit
        from provider.models import Provider
        from sessions.services import session_resolve, sessions_close

        start = clock.now()
        ended = launch("p_demo_1")
        provider = Provider.objects.get(code="sandbox")
        for minutes in (20, 40, 60, 80, 90):  # in play: each call slides the idle expiry
            monkeypatch.setattr(clock, "now", lambda minutes=minutes: start + timedelta(minutes=minutes))
            session_resolve(token=ended, provider=provider)
        live = launch("p_demo_1", "sandbox:slot")  # launched at 90 minutes: 60 more to play
        monkeypatch.setattr(clock, "now", lambda: start + timedelta(minutes=91))
        player = Player.objects.get(player_id="p_demo_1")
        player_set_session_time_limit(player=player, minutes=60, changed_by="t", reason="t")
        assert [session_state(session=session_of(t))["state"] for t in (ended, live)] == ["ended", "open"]

        chosen = GameSession.objects.filter(pk__in=[session_of(ended).pk, session_of(live).pk])
        assert sessions_close(sessions=chosen, changed_by="staff", reason="takeover") == 1
        assert [session_state(session=session_of(t))["state"] for t in (ended, live)] == ["ended", "closed"]
        logged = PlayerAuditLog.objects.filter(field="game_sessions").values_list("old_value", "new_value")
        assert list(logged) == [("1 open", "closed")]

    def test_staff_close_from_the_list_filtered_to_open_ones_is_on_record(self, admin_client, sandbox):
        # The filtered list no longer holds the sessions once closed: the record is written
        # from the rows the close locked.
        from django.urls import reverse

        from players.models import PlayerAuditLog

        tokens = [launch("p_demo_1"), launch("p_demo_1"), launch("p_kyc_pending")]
        url = reverse("admin:game_sessions_gamesession_changelist") + "?state=open"
        chosen = [session_of(t).pk for t in tokens]
        admin_client.post(url, {"action": "close_sessions", "_selected_action": chosen}, follow=True)
        assert all(session_of(t).closed_at is not None for t in tokens)
        logged = PlayerAuditLog.objects.filter(field="game_sessions").order_by("player__player_id")
        assert list(logged.values_list("player__player_id", "old_value")) == [
            ("p_demo_1", "2 open"),
            ("p_kyc_pending", "1 open"),
        ]

    def test_the_session_list_shows_and_filters_by_state(self, admin_client, sandbox):
        from django.urls import reverse

        open_one, closed_one = launch("p_demo_1"), launch("p_demo_1")
        GameSession.objects.filter(pk=session_of(closed_one).pk).update(closed_at=clock.now())
        url = reverse("admin:game_sessions_gamesession_changelist")
        r = admin_client.get(url, {"state": "open"})
        assert r.status_code == 200
        assert [s.pk for s in r.context["cl"].result_list] == [session_of(open_one).pk]
        assert '<td class="field-state">open</td>' in r.content.decode()
        r = admin_client.get(url, {"state": "closed"})
        assert [s.pk for s in r.context["cl"].result_list] == [session_of(closed_one).pk]
