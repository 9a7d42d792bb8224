"""The wallet hot path validates with a function compiled from each DRF serializer; it must
accept and refuse exactly what the serializer does."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casino_platform.errors import ValidationFailed
from casino_platform.fastvalidate import compile_serializer
from wallet.api import serializers as s

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**15 + 5),
    st.floats(allow_nan=False),
    st.sampled_from(
        ["", " ", "EUR", "tx-1", "a b", "x" * 129, "bet", "win", "p_demo_1", "é", "5", "r\ud800", "tx\x00"]
    ),
    st.text(max_size=5),
)


@pytest.mark.parametrize(
    "serializer", [s.AuthenticateInput, s.BalanceInput, s.DebitInput, s.CreditInput, s.RollbackInput]
)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_compiled_validation_agrees_with_the_serializer(serializer, data):
    names = list(serializer().fields)
    payload = data.draw(st.dictionaries(st.sampled_from(names), values))
    fast = compile_serializer(serializer)
    reference = serializer(data=payload)
    try:
        clean = fast(payload)
    except ValidationFailed as exc:
        assert not reference.is_valid(), payload
        assert set(exc.details) == set(reference.errors), (payload, exc.details, reference.errors)
    else:
        assert reference.is_valid(), (payload, reference.errors)
        assert clean == dict(reference.validated_data)


def test_a_valid_debit_is_cleaned_like_the_serializer_cleans_it():
    payload = {
        "transaction_id": "tx-1",
        "session_token": "tok",
        "round_id": "r",
        "game_id": "sandbox:dice",
        "amount": 5,
        "currency": "EUR",
        "reason": "bet",
    }
    reference = s.DebitInput(data=payload)
    assert reference.is_valid()
    assert compile_serializer(s.DebitInput)(payload) == dict(reference.validated_data)
    assert compile_serializer(s.DebitInput)(payload)["round_closed"] is False


@pytest.mark.parametrize("value", [" tok", "tok ", "to k\n", "   "])
def test_a_token_with_whitespace_around_it_is_refused_in_the_serializers_words(value):
    payload = {"session_token": value}
    reference = s.BalanceInput(data=payload)
    assert not reference.is_valid()
    with pytest.raises(ValidationFailed) as refused:
        compile_serializer(s.BalanceInput)(payload)
    assert refused.value.details["session_token"] == [str(m) for m in reference.errors["session_token"]]


@pytest.mark.parametrize("value", ["tx-\ud800", "é\udfff", "tx\x00"])
def test_surrogates_and_nulls_are_refused_in_the_serializers_words(value):
    payload = {"player_id": value, "currency": "EUR"}
    reference = s.BalanceInput(data=payload)
    assert not reference.is_valid()
    with pytest.raises(ValidationFailed) as refused:
        compile_serializer(s.BalanceInput)(payload)
    assert refused.value.details["player_id"] == [str(m) for m in reference.errors["player_id"]]
