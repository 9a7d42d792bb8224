"""Know your customer: money leaves only for a player whose identity the casino has verified.
The casino sets the status through the operator API (or staff in the admin), every change
audited; a withdrawal's request and its approval both check it under the player's lock."""

import io
import threading

import pytest
import requests
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from casino_platform.tests.locks import player_locked, together_behind_a_lock, until_another_waits_for_a_lock
from casino_platform.tests.pages import form_as_shown
from ledger.models import Currency, JournalTransaction
from ledger.reconciliation import ledger_reconcile
from players.errors import KycRequired
from players.models import Player, PlayerAuditLog
from players.services import player_update
from wallet.models import Wallet, Withdrawal
from wallet.services import withdrawal_approve, withdrawal_reject
from wallet.tests.test_admin import messages_of
from wallet.tests.test_cashier import TOKEN, balance, call

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(db):
    call_command("seed_sandbox", stdout=io.StringIO())


def withdraw(client, amount, reference, player="p_kyc_pending", **extra):
    return call(
        client, "POST", f"{player}/withdrawals", {"currency": "EUR", "amount": amount, "reference": reference, **extra}
    )


def set_kyc(client, player_id, **body):
    return call(client, "PUT", player_id, body)


def withdrawals_journalled(player_id) -> int:
    return JournalTransaction.objects.filter(
        kind=JournalTransaction.Kind.WITHDRAWAL, entries__account__key__startswith=f"wallet:{player_id}:"
    ).count()


class TestStatus:
    def test_the_casino_sets_it_and_each_change_is_audited(self, client, sandbox):
        r = set_kyc(client, "p_kyc_pending", kyc_status="verified", kyc_reference="idv-93ac1f", reason="passport seen")
        assert r.status_code == 200, r.content
        assert (r.json()["kyc_status"], r.json()["kyc_reference"]) == ("verified", "idv-93ac1f")
        assert call(client, "GET", "p_kyc_pending").json()["kyc_status"] == "verified"
        audit = PlayerAuditLog.objects.filter(player__player_id="p_kyc_pending", changed_by="operator:sandbox")
        assert {(row.field, row.old_value, row.new_value, row.reason) for row in audit} == {
            ("kyc_status", "pending", "verified", "passport seen"),
            ("kyc_reference", "", "idv-93ac1f", "passport seen"),
        }
        # The same answer again changes nothing and audits nothing.
        set_kyc(client, "p_kyc_pending", kyc_status="verified", kyc_reference="idv-93ac1f")
        assert audit.count() == 2

    def test_a_verification_retried_after_a_revocation_does_not_verify_again(self, client, sandbox):
        """The casino's "verified" times out on its side, compliance revokes, the client retries
        the first PUT: with the status it was decided on, the retry changes nothing."""
        first = {"kyc_status": "verified", "expected_kyc_status": "pending", "reason": "documents checked"}
        assert set_kyc(client, "p_kyc_pending", **first).json()["kyc_status"] == "verified"
        revoked = set_kyc(client, "p_kyc_pending", kyc_status="rejected", expected_kyc_status="verified", reason="fake")
        assert revoked.json()["kyc_status"] == "rejected"
        r = set_kyc(client, "p_kyc_pending", **first)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert "kyc_status" in r.json()["details"] and "now 'rejected'" in r.json()["message"]
        assert Player.objects.get(player_id="p_kyc_pending").kyc_status == "rejected"
        # Repeating the revocation answers as before; it is already what it asks for.
        again = set_kyc(client, "p_kyc_pending", kyc_status="rejected", expected_kyc_status="verified", reason="fake")
        assert again.status_code == 200
        # Naming what it is now moves it on.
        r = set_kyc(client, "p_kyc_pending", kyc_status="verified", expected_kyc_status="rejected", reason="appeal")
        assert r.json()["kyc_status"] == "verified"

    def test_a_player_may_be_registered_verified(self, client, sandbox):
        r = set_kyc(client, "p_new", display_name="New", country="MT", kyc_status="verified", reason="signed up")
        assert r.status_code == 201, r.content
        player = Player.objects.get(player_id="p_new")
        assert (player.kyc_status, player.display_name) == ("verified", "New")
        fields = set(PlayerAuditLog.objects.filter(player=player).values_list("field", flat=True))
        assert fields == {"created", "kyc_status"}

    def test_a_new_player_is_unverified(self, client, sandbox):
        assert set_kyc(client, "p_fresh").json()["kyc_status"] == "unverified"

    @pytest.mark.parametrize(
        "body",
        [{"kyc_status": "approved"}, {"kyc_status": None}, {"kyc_status": 1}, {"kyc_reference": "x" * 121}],
    )
    def test_a_bad_status_is_refused_and_changes_nothing(self, client, sandbox, body):
        r = set_kyc(client, "p_kyc_pending", **body)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR"), r.content
        assert set(body) <= set(r.json()["details"])
        assert Player.objects.get(player_id="p_kyc_pending").kyc_status == "pending"

    def test_the_database_holds_the_status_to_the_known_ones(self, sandbox):
        from django.db import IntegrityError

        with pytest.raises(IntegrityError), transaction.atomic():
            Player.objects.filter(player_id="p_demo_1").update(kyc_status="approved")


class TestWithdrawals:
    def test_an_unverified_player_is_refused_and_nothing_moves(self, client, sandbox):
        r = withdraw(client, 1_000, "po-k1")
        assert (r.status_code, r.json()["code"]) == (403, "KYC_REQUIRED"), r.content
        assert r.json()["details"] == {"kyc_status": "pending"}
        assert balance("p_kyc_pending") == 10_000
        assert not Withdrawal.objects.exists()
        assert withdrawals_journalled("p_kyc_pending") == 0
        # A refusal is final for its reference: verified since, it is answered the same.
        set_kyc(client, "p_kyc_pending", kyc_status="verified")
        again = withdraw(client, 1_000, "po-k1")
        assert (again.status_code, again.headers["Idempotent-Replayed"]) == (403, "true")
        fresh = withdraw(client, 1_000, "po-k2")
        assert (fresh.status_code, fresh.json()["status"], fresh.json()["balance"]) == (200, "approved", 9_000)
        assert ledger_reconcile().ok

    @pytest.mark.parametrize("status", ["unverified", "rejected"])
    def test_every_status_but_verified_is_refused(self, client, sandbox, status):
        set_kyc(client, "p_demo_1", kyc_status=status)
        r = withdraw(client, 1_000, f"po-{status}", player="p_demo_1")
        assert (r.status_code, r.json()["details"]) == (403, {"kyc_status": status})
        assert balance() == 100_000

    def test_deposits_and_play_do_not_wait_for_it(self, client, sandbox):
        r = call(client, "POST", "p_kyc_pending/deposits", {"currency": "EUR", "amount": 500, "reference": "d-k"})
        assert (r.status_code, r.json()["balance"]) == (200, 10_500)

    def test_the_check_may_be_left_to_the_casino(self, client, sandbox, settings):
        settings.KYC_REQUIRED_FOR_WITHDRAWALS = False
        r = withdraw(client, 1_000, "po-off")
        assert (r.status_code, r.json()["status"]) == (200, "approved")

    def test_a_blocked_player_is_refused_as_blocked_first(self, client, sandbox):
        Player.objects.filter(player_id="p_kyc_pending").update(status="blocked")
        assert withdraw(client, 1_000, "po-b").json()["code"] == "PLAYER_BLOCKED"

    def test_in_the_schema(self, client):
        schema = client.get("/api/schema/?format=json").json()
        withdraw_op = schema["paths"]["/api/v1/players/{player_id}/withdrawals"]["post"]
        assert "KYC_REQUIRED" in str(withdraw_op["responses"]["403"])
        assert "kyc_status" in schema["components"]["schemas"]["PlayerInput"]["properties"]


def deposit(client, amount, reference, player="p_kyc_pending"):
    return call(client, "POST", f"{player}/deposits", {"currency": "EUR", "amount": amount, "reference": reference})


class TestDepositThreshold:
    """The currency's `kyc_deposits_above`: what a player who is not verified may deposit in all.
    The sandbox's p_kyc_pending (pending) holds the 100.00 EUR it was seeded with, a deposit."""

    @pytest.fixture
    def threshold(self, sandbox):
        Currency.objects.filter(code="EUR").update(kyc_deposits_above=15_000)

    def test_up_to_it_deposits_go_in_and_over_it_nothing_moves(self, client, threshold):
        assert deposit(client, 5_000, "d-k1").status_code == 200  # 15,000 in all: at the threshold
        r = deposit(client, 1, "d-k2")
        assert (r.status_code, r.json()["code"]) == (403, "KYC_REQUIRED"), r.content
        assert r.json()["details"] == {
            "kyc_status": "pending",
            "kyc_deposits_above": 15_000,
            "deposited": 15_000,
            "remaining": 0,
        }
        assert "150.00 EUR" in r.json()["message"]
        assert balance("p_kyc_pending") == 15_000
        # Verified, the player deposits freely; the refused reference stays refused.
        set_kyc(client, "p_kyc_pending", kyc_status="verified")
        assert deposit(client, 1, "d-k2").headers["Idempotent-Replayed"] == "true"
        assert deposit(client, 50_000, "d-k3").status_code == 200
        assert ledger_reconcile().ok

    def test_withdrawals_do_not_make_room_again(self, client, threshold, settings):
        settings.KYC_REQUIRED_FOR_WITHDRAWALS = False  # so that the unverified player can take money out
        assert withdraw(client, 10_000, "po-out").json()["status"] == "approved"
        r = deposit(client, 5_001, "d-k4")
        assert (r.status_code, r.json()["details"]["remaining"]) == (403, 5_000)

    def test_staff_deposits_count_but_are_not_refused(self, client, admin_client, threshold):
        from wallet.services import wallet_deposit

        wallet_deposit(player_id="p_kyc_pending", currency="EUR", amount=20_000, created_by="staff:a", reason="bank")
        assert balance("p_kyc_pending") == 30_000
        assert deposit(client, 1, "d-k5").json()["details"]["deposited"] == 30_000

    def test_zero_means_no_deposit_before_verification(self, client, sandbox):
        Currency.objects.filter(code="EUR").update(kyc_deposits_above=0)
        r = deposit(client, 1, "d-k6")
        assert (r.status_code, r.json()["code"]) == (403, "KYC_REQUIRED")
        assert balance("p_kyc_pending") == 10_000
        assert not JournalTransaction.objects.filter(provider_transaction_id="d-k6").exists()
        r = deposit(client, 1, "d-k7", player="p_demo_1")  # verified
        assert (r.status_code, r.json()["balance"], balance("p_demo_1")) == (200, 100_001, 100_001)
        assert ledger_reconcile().ok

    def test_empty_means_deposits_never_wait(self, client, sandbox):
        assert Currency.objects.get(code="EUR").kyc_deposits_above is None
        r = deposit(client, 10**9, "d-k8")
        assert (r.status_code, r.json()["balance"], balance("p_kyc_pending")) == (200, 10**9 + 10_000, 10**9 + 10_000)

    def test_another_currency_has_its_own(self, client, threshold):
        Currency.objects.filter(code="USD").update(kyc_deposits_above=20_000)
        # p_kyc_pending has no USD wallet yet: nothing deposited in USD so far.
        over = call(client, "POST", "p_kyc_pending/deposits", {"currency": "USD", "amount": 20_001, "reference": "u1"})
        assert (over.status_code, over.json()["details"]["deposited"]) == (403, 0)
        assert not Wallet.objects.filter(player__player_id="p_kyc_pending", currency_id="USD").exists()
        assert not JournalTransaction.objects.filter(provider_transaction_id="u1").exists()
        r = call(client, "POST", "p_kyc_pending/deposits", {"currency": "USD", "amount": 20_000, "reference": "u2"})
        assert r.status_code == 200, r.content
        assert r.json()["balance"] == balance("p_kyc_pending", "USD") == 20_000
        assert ledger_reconcile().ok

    def test_the_database_holds_it_to_zero_or_more(self, sandbox):
        from django.db import IntegrityError

        with pytest.raises(IntegrityError), transaction.atomic():
            Currency.objects.filter(code="EUR").update(kyc_deposits_above=-1)

    def test_in_the_schema_and_the_admin(self, client, admin_client, sandbox):
        schema = client.get("/api/schema/?format=json").json()
        deposit_op = schema["paths"]["/api/v1/players/{player_id}/deposits"]["post"]
        assert "KYC_REQUIRED" in str(deposit_op["responses"]["403"])
        page = admin_client.get(reverse("admin:ledger_currency_change", args=["EUR"]))
        assert b"KYC needed for deposits above" in page.content


@pytest.mark.django_db(transaction=True)
def test_parallel_deposits_cannot_cross_the_threshold_together(live_server):
    """Eight deposits of 1,000, each on its own connection, all waiting on the player's lock at
    once, with room for five: the player's lock makes them count one after another."""
    call_command("seed_sandbox", stdout=io.StringIO())
    Currency.objects.filter(code="EUR").update(kyc_deposits_above=15_000)
    url = f"{live_server.url}/api/v1/players/p_kyc_pending/deposits"

    def post(n):
        with requests.Session() as http:
            body = {"currency": "EUR", "amount": 1_000, "reference": f"d-race-{n}"}
            return http.post(url, json=body, headers=TOKEN, timeout=30).json().get("code", "OK")

    codes = sorted(together_behind_a_lock(lambda: player_locked("p_kyc_pending"), post, 8))
    assert codes == ["KYC_REQUIRED"] * 3 + ["OK"] * 5
    assert balance("p_kyc_pending") == 15_000
    assert JournalTransaction.objects.filter(provider_transaction_id__startswith="d-race-").count() == 5
    assert ledger_reconcile().ok


class TestApproval:
    @pytest.fixture
    def pending(self, client, sandbox):
        Currency.objects.filter(code="EUR").update(withdrawal_review_above=0)
        assert withdraw(client, 4_000, "po-held", player="p_demo_1").json()["status"] == "pending"
        # Found out after the request: the identity documents were forged.
        set_kyc(client, "p_demo_1", kyc_status="rejected", reason="forged passport")
        return Withdrawal.objects.get(reference="po-held")

    def test_a_player_no_longer_verified_is_not_paid(self, pending):
        with pytest.raises(KycRequired):
            withdrawal_approve(reference="po-held", staff="staff:eve", reason="looks fine")
        pending.refresh_from_db()
        assert (pending.status, pending.approval_journal) == ("pending", None)
        # Rejecting is still open to staff: the money goes back to the wallet.
        assert withdrawal_reject(reference="po-held", staff="staff:eve", reason="forged passport").status == "rejected"
        assert balance() == 100_000
        assert ledger_reconcile().ok

    def test_the_review_page_says_so_and_refuses_approval(self, admin_client, pending):
        url = reverse("admin:wallet_withdrawal_review", args=[pending.pk])
        page = admin_client.get(url).content.decode()
        assert "Identity (KYC): <strong>Rejected</strong>" in page
        assert "cannot be approved until the" in page
        r = admin_client.post(url, {"decision": "approve", "reason": "ok"})
        assert messages_of(r)[-1].startswith("KYC_REQUIRED: Player p_demo_1's identity is not verified")
        assert Withdrawal.objects.get(pk=pending.pk).status == "pending"


class TestAdmin:
    def test_the_withdrawal_queue_shows_and_filters_by_it(self, client, admin_client, sandbox):
        Currency.objects.filter(code="EUR").update(withdrawal_review_above=0)
        withdraw(client, 1_000, "po-q-ok", player="p_demo_1")
        set_kyc(client, "p_blocked_rg", kyc_status="verified")
        withdraw(client, 1_000, "po-q-later", player="p_blocked_rg")
        set_kyc(client, "p_blocked_rg", kyc_status="pending", reason="documents expired")
        queue = reverse("admin:wallet_withdrawal_changelist")
        page = admin_client.get(queue)
        assert "column-kyc" in page.content.decode()
        assert "Being checked" in page.content.decode()
        r = admin_client.get(queue + "?wallet__player__kyc_status__exact=pending")
        assert [w.reference for w in r.context["cl"].result_list] == ["po-q-later"]

    def test_staff_set_it_on_the_player_page_audited(self, admin_client, sandbox):
        player = Player.objects.get(player_id="p_kyc_pending")
        url = reverse("admin:players_player_change", args=[player.pk])
        data = form_as_shown(admin_client.get(url))
        data.update(kyc_status="verified", kyc_reference="manual-7", change_reason="passport checked")
        r = admin_client.post(url, data)
        assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
        player.refresh_from_db()
        assert (player.kyc_status, player.kyc_reference) == ("verified", "manual-7")
        row = PlayerAuditLog.objects.get(player=player, field="kyc_status", changed_by="admin")
        assert (row.old_value, row.new_value) == ("pending", "verified")

    def test_the_list_filters_by_it(self, admin_client, sandbox):
        r = admin_client.get(reverse("admin:players_player_changelist") + "?kyc_status__exact=pending")
        content = r.content.decode()
        assert "p_kyc_pending" in content and "p_demo_1" not in content


@pytest.mark.django_db(transaction=True)
def test_a_revocation_committed_while_a_withdrawal_waits_decides_it(live_server):
    """Staff revoke a player's verification while a withdrawal over HTTP waits for the
    player's lock: the withdrawal reads the status after the revocation commits, and is
    refused. The check is under the lock, not before it."""
    call_command("seed_sandbox", stdout=io.StringIO())
    player = Player.objects.get(player_id="p_demo_1")
    answer: dict = {}

    def withdraw_over_http():
        answer["response"] = requests.post(
            f"{live_server.url}/api/v1/players/p_demo_1/withdrawals",
            json={"currency": "EUR", "amount": 5_000, "reference": "po-race"},
            headers=TOKEN,
            timeout=30,
        )

    with transaction.atomic():
        player_update(player=player, changed_by="staff:eve", reason="fraud found", kyc_status="rejected")
        request = threading.Thread(target=withdraw_over_http)
        request.start()
        # Commit only once the request is waiting for the row this transaction holds.
        until_another_waits_for_a_lock(request, "the withdrawal")
    request.join(30)
    r = answer["response"]
    assert (r.status_code, r.json()["code"], r.json()["details"]) == (403, "KYC_REQUIRED", {"kyc_status": "rejected"})
    assert balance() == 100_000
    assert not Withdrawal.objects.exists()
    assert ledger_reconcile().ok
