"""A seeded, auditable RNG: every draw is HMAC-SHA256(server_seed, "client_seed:nonce:cursor"),
so anyone holding a round's seeds and nonce recomputes its outcome exactly. Integers are
drawn by rejection sampling, never by modulo of a biased range, and never through floats."""

import hashlib
import hmac
import secrets


def new_server_seed() -> str:
    return secrets.token_hex(32)


def seeded_server_seed(seed: int | str, n: int) -> str:
    """Deterministic server seeds for reproducible simulations (`simulate --seed`)."""
    return hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()


class RoundRng:
    def __init__(self, *, server_seed: str, client_seed: str, nonce: int):
        self.server_seed, self.client_seed, self.nonce = server_seed, client_seed, nonce
        self._cursor = 0

    def _block(self) -> int:
        message = f"{self.client_seed}:{self.nonce}:{self._cursor}".encode()
        self._cursor += 1
        return int.from_bytes(hmac.new(self.server_seed.encode(), message, hashlib.sha256).digest(), "big")

    def randint(self, low: int, high: int) -> int:
        """Uniform integer in [low, high]."""
        span = high - low + 1
        limit = (1 << 256) - ((1 << 256) % span)  # reject the biased tail
        while True:
            value = self._block()
            if value < limit:
                return low + value % span
