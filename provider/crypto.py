"""Encryption at rest of provider secrets. The key comes from the environment
(PROVIDER_SECRET_KEY, a Fernet key); without it one is derived from SECRET_KEY."""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    key = settings.PROVIDER_SECRET_KEY
    if not key:
        key = base64.urlsafe_b64encode(hashlib.sha256(f"provider-secrets:{settings.SECRET_KEY}".encode()).digest())
    return Fernet(key)


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
