# The wallet tests' provider, game and funded wallet, for the rounds they play.
from wallet.tests.conftest import game, provider, wallet  # noqa: F401
