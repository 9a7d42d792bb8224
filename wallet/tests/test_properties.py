"""Random sequences of wallet operations against a tiny model of the contract's rules."""

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from casino_platform.errors import DomainError
from ledger.models import Entry
from ledger.reconciliation import ledger_reconcile
from provider.tests.factories import GameFactory, ProviderFactory
from wallet.models import Wallet
from wallet.services import wallet_credit, wallet_debit, wallet_rollback
from wallet.tests.conftest import credit_request, debit_request, rollback_request
from wallet.tests.factories import funded_wallet

ROUNDS = ["r0", "r1", "r2", "r3"]
START = 1_000

ops = st.lists(
    st.one_of(
        st.tuples(st.just("debit"), st.integers(1, 600), st.sampled_from(ROUNDS), st.booleans()),
        st.tuples(st.just("credit"), st.integers(0, 600), st.sampled_from(ROUNDS), st.sampled_from(["win", "prize"])),
        st.tuples(st.just("rollback"), st.integers(0, 30), st.sampled_from(ROUNDS), st.just(None)),
        st.tuples(st.just("replay"), st.integers(0, 30), st.just(""), st.just(None)),
    ),
    max_size=25,
)


@dataclass
class Model:
    balance: int = START
    closed: set[str] = field(default_factory=set)
    credited: set[str] = field(default_factory=set)
    debits: dict[str, tuple[int, str]] = field(default_factory=dict)  # tx -> (amount, round)
    rolled_back: set[str] = field(default_factory=set)
    tombstones: set[str] = field(default_factory=set)


class WalletModelTest(TestCase):
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops)
    def test_random_operations_follow_the_model(self, operations):
        provider = ProviderFactory()
        GameFactory(provider=provider)
        wallet = funded_wallet(amount=START)
        model = Model()
        history: list[tuple[object, object]] = []  # (request, first answer)
        for n, (kind, amount, round_id, flag) in enumerate(operations):
            if kind == "debit":
                req = debit_request(wallet, amount=amount, round_id=round_id, round_closed=flag, tx=f"d{n}")
                call = lambda req=req: wallet_debit(provider=provider, request=req)  # noqa: E731
                if round_id in model.closed:
                    expected = "ROUND_CLOSED"
                elif amount > model.balance:
                    expected = "INSUFFICIENT_FUNDS"
                else:
                    expected = "ok"
                    model.balance -= amount
                    model.debits[req.transaction_id] = (amount, round_id)
                    if flag:
                        model.closed.add(round_id)
            elif kind == "credit":
                req = credit_request(wallet, amount=amount, round_id=round_id, reason=flag, tx=f"c{n}")
                call = lambda req=req: wallet_credit(provider=provider, request=req)  # noqa: E731
                standing = [tx for tx, (_, r) in model.debits.items() if r == round_id and tx not in model.rolled_back]
                if flag == "win" and not standing:
                    # No debit, or every debit of the round rolled back.
                    expected = "ROUND_NOT_FOUND"
                else:
                    expected = "ok"
                    model.balance += amount
                    model.credited.add(round_id)
                    model.closed.add(round_id)
            elif kind == "rollback":
                # Reference one of the earlier debits (or an id never seen: a tombstone).
                refs = sorted(model.debits) or ["ghost"]
                ref = refs[amount % len(refs)] if amount % 4 else f"ghost{n}"
                ref_round = model.debits[ref][1] if ref in model.debits else round_id
                req = rollback_request(wallet, reference=ref, round_id=ref_round, tx=f"rb{n}")
                call = lambda req=req: wallet_rollback(provider=provider, request=req)  # noqa: E731
                if ref not in model.debits:
                    expected = "tombstone"
                    model.tombstones.add(ref)
                elif ref in model.rolled_back:
                    expected = "already_rolled_back"
                elif ref_round in model.credited:
                    expected = "ROLLBACK_NOT_ALLOWED"
                else:
                    expected = "rolled_back"
                    model.rolled_back.add(ref)
                    model.balance += model.debits[ref][0]
            else:  # replay an earlier request: the first answer again, nothing moves
                if not history:
                    continue
                req, first = history[amount % len(history)]
                service = {"d": wallet_debit, "c": wallet_credit, "r": wallet_rollback}[req.transaction_id[0]]
                try:
                    again = service(provider=provider, request=req)
                except DomainError as exc:
                    assert exc.replayed and isinstance(first, DomainError) and exc.code == first.code
                else:
                    assert again.replayed and again.as_body() == first.as_body()
                continue
            try:
                result = call()
            except DomainError as exc:
                assert exc.code == expected, (kind, exc.code, expected)
                history.append((req, exc))
            else:
                got = result.status or "ok"
                assert got == expected, (kind, got, expected)
                assert result.balance == model.balance
                history.append((req, result))
            assert Wallet.objects.get(pk=wallet.pk).balance == model.balance
        assert ledger_reconcile().ok
        total = sum(Entry.objects.filter(account_id=wallet.account_id).values_list("amount", flat=True))
        assert total == model.balance
