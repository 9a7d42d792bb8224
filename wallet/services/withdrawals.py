"""A withdrawal after its request: approved by staff, rejected, cancelled by the operator, or
returned when its payout failed. Each step moves the money on in the journal and changes the
Withdrawal's status in one transaction, under the wallet's lock and then the Withdrawal's
row lock, so two steps on one withdrawal never both happen."""

from dataclasses import dataclass

from django.db import transaction

from casino_platform import clock
from casino_platform.errors import ValidationFailed
from ledger.models import Account, JournalTransaction
from ledger.services import Leg, house_account_id, ledger_post
from players.errors import PlayerBlocked
from players.models import Player
from players.services import player_assert_may_be_paid

from ..errors import WithdrawalNotAllowed
from ..models import Wallet, Withdrawal
from ..selectors import withdrawal_get
from .common import WalletResult, wallet_apply, wallet_lock
from .webhooks import withdrawal_event_record

Status = Withdrawal.Status


@dataclass(frozen=True)
class _Step:
    """What one step does: from which states, to which, and the house account the money
    comes from and goes to (None: the player's wallet, as a reversal of the request)."""

    name: str
    allowed_from: tuple[str, ...]
    to: str
    source: str
    destination: str | None


_PENDING, _CASH_OUT = Account.Kind.WITHDRAWALS_PENDING, Account.Kind.CASH_OUT
_APPROVE = _Step("approve", (Status.PENDING,), Status.APPROVED, _PENDING, _CASH_OUT)
_REJECT = _Step("reject", (Status.PENDING,), Status.REJECTED, _PENDING, None)
_CANCEL = _Step("cancel", (Status.PENDING,), Status.CANCELLED, _PENDING, None)
_RETURN = _Step("return", (Status.APPROVED,), Status.RETURNED, _CASH_OUT, None)


def _answer(withdrawal: Withdrawal, wallet: Wallet, journal: JournalTransaction | None, replayed: bool) -> WalletResult:
    return WalletResult(
        player_id=withdrawal.wallet.player.player_id,
        currency=wallet.currency_id,
        balance=wallet.balance,
        transaction_id=withdrawal.reference,
        platform_transaction_id=str(journal.pk) if journal is not None else None,
        status=withdrawal.status,
        replayed=replayed,
    )


def _step(
    step: _Step,
    *,
    reference: str,
    created_by: str,
    reason: str,
    player_id: str | None = None,
    currency: str | None = None,
    trace_id: str = "",
) -> WalletResult:
    if not reason.strip():
        raise ValidationFailed(
            f"Say why: to {step.name} a withdrawal needs a reason.", details={"reason": ["required"]}
        )
    found = withdrawal_get(reference=reference, player_id=player_id, currency=currency)
    with transaction.atomic(durable=True):
        # Wallet (and player) first, then the withdrawal: the order every movement locks in.
        player, wallet = wallet_lock(player_pk=found.wallet.player_id, currency=found.wallet.currency_id)
        assert wallet is not None  # the withdrawal's wallet exists
        withdrawal = Withdrawal.objects.select_for_update().select_related("wallet__player").get(pk=found.pk)
        back_to_wallet = step.destination is None
        if withdrawal.status == step.to:
            # The same step again (a retry): its answer, with the balance as it is now.
            done = withdrawal.reversal_journal if back_to_wallet else withdrawal.approval_journal
            # Approving one that never waited: its request took it to cash-out.
            done = done or withdrawal.request_journal
            return _answer(withdrawal, wallet, done, replayed=True)
        if withdrawal.status not in step.allowed_from:
            raise WithdrawalNotAllowed(
                f"Withdrawal {reference!r} is {withdrawal.status}: it cannot be {step.to}.",
                details={"status": withdrawal.status},
            )
        if step.destination == _CASH_OUT:
            # Money on its way out to the player: verified when it was asked for is not
            # enough, the KYC status now is what counts; and a player blocked since (a fraud
            # suspicion) is frozen as the cashier's request would be: staff lift the block
            # first if they decide to pay, or reject it.
            if player.status == Player.Status.BLOCKED:
                raise PlayerBlocked(
                    f"Player {player.player_id} is blocked: unblock them before approving a payout, or reject it.",
                    details={"status": player.status},
                )
            player_assert_may_be_paid(player=player)
        currency_code, amount = wallet.currency_id, withdrawal.amount
        if step.destination is None:
            destination = wallet.account_id
            wallet_apply(wallet=wallet, delta=amount)
        else:
            destination = house_account_id(kind=step.destination, currency=currency_code)
        journal = ledger_post(
            kind=JournalTransaction.Kind.WITHDRAWAL,
            legs=[
                Leg(destination, amount, currency_code),
                Leg(house_account_id(kind=step.source, currency=currency_code), -amount, currency_code),
            ],
            created_by=created_by,
            reason=step.to,
            # Money back in the wallet reverses the request: `reverses` is unique, so the
            # database lets it come back once, whichever step brings it.
            reverses=withdrawal.request_journal if back_to_wallet else None,
            memo=reason,
            trace_id=trace_id,
        )
        if back_to_wallet:
            withdrawal.reversal_journal = journal
        else:
            withdrawal.approval_journal = journal
        withdrawal.status = step.to
        update = ["status", "approval_journal", "reversal_journal"]
        if step is not _RETURN:
            withdrawal.decided_by, withdrawal.decided_at, withdrawal.decision_memo = created_by, clock.now(), reason
            update += ["decided_by", "decided_at", "decision_memo"]
        withdrawal.save(update_fields=update)
        withdrawal_event_record(withdrawal)
    return _answer(withdrawal, wallet, journal, replayed=False)


def withdrawal_approve(*, reference: str, staff: str, reason: str) -> WalletResult:
    """Staff let a withdrawal that waited go: its money moves from withdrawals_pending to
    cash_out, and the operator's payment system may now send it."""
    return _step(_APPROVE, reference=reference, created_by=staff, reason=reason)


def withdrawal_reject(*, reference: str, staff: str, reason: str) -> WalletResult:
    """Staff refuse a withdrawal that waited: its money goes back to the wallet."""
    return _step(_REJECT, reference=reference, created_by=staff, reason=reason)


def withdrawal_cancel(
    *, player_id: str, reference: str, created_by: str, reason: str, trace_id: str = ""
) -> WalletResult:
    """The player (through the operator) takes back a withdrawal still waiting for review."""
    return _step(
        _CANCEL, reference=reference, player_id=player_id, created_by=created_by, reason=reason, trace_id=trace_id
    )


def wallet_withdrawal_return(
    *,
    player_id: str,
    reference: str,
    created_by: str,
    reason: str,
    trace_id: str = "",
    currency: str | None = None,
) -> WalletResult:
    """A payout that failed after its withdrawal was approved: the money goes back to the
    wallet (cash_out -> wallet), once, whatever the player's state: it is the player's own
    money coming back. A repeat answers the return already made, with the balance as it is
    now. With `currency`, only a withdrawal from that wallet of the player is found."""
    return _step(
        _RETURN,
        reference=reference,
        player_id=player_id,
        currency=currency,
        created_by=created_by,
        reason=reason,
        trace_id=trace_id,
    )
