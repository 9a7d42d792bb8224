"""The contract's signatures (provider/signing.py) against the standard library's HMAC: the
keyed HMAC each secret's signatures are copied from must never carry one message into the
next, whichever thread signs."""

import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given
from hypothesis import strategies as st

from provider.signing import matching_secret, sign_request, sign_response


def reference(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@given(secret=st.text(min_size=1, max_size=80), body=st.binary(max_size=2000), status=st.integers(100, 599))
def test_signatures_are_hmac_sha256_of_the_contracts_message(secret, body, status):
    assert sign_request(secret=secret, timestamp=1764748800, method="post", path="/api/v1/wallet/debit", body=body) == (
        reference(secret, b"1764748800.POST./api/v1/wallet/debit." + body)
    )
    assert sign_response(secret=secret, timestamp="1764748800", status=status, body=body) == (
        reference(secret, f"1764748800.RESPONSE.{status}.".encode() + body)
    )


def test_a_known_signature():
    # printf '1700000000.POST./x.{}' | openssl dgst -sha256 -hmac s3cret
    expected = "3b1b95d792647f849d382c1c041fef9e4a3b93f7f31a2aa17c0668e0d075e665"
    assert sign_request(secret="s3cret", timestamp=1700000000, method="POST", path="/x", body=b"{}") == expected
    assert sign_request(secret="s3cret2", timestamp=1700000000, method="POST", path="/x", body=b"{}") != expected


def test_threads_signing_with_one_secret_each_get_their_own_message_signed():
    bodies = [f'{{"n": {n}}}'.encode() for n in range(400)]

    def sign(body):
        return sign_response(secret="shared", timestamp=1, status=200, body=body)

    with ThreadPoolExecutor(8) as pool:
        signatures = list(pool.map(sign, bodies))
    assert signatures == [reference("shared", b"1.RESPONSE.200." + body) for body in bodies]


def test_rotation_finds_the_secret_that_signed():
    sign = lambda s: sign_request(secret=s, timestamp=1, method="POST", path="/p", body=b"b")  # noqa: E731
    given_signature = sign("new")
    assert matching_secret(secrets=["old", "new"], given=given_signature, sign=sign) == "new"
    assert matching_secret(secrets=["old"], given=given_signature, sign=sign) is None
