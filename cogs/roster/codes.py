"""Join codes: generation, normalisation and salted hashing. Pure: no discord, no I/O.

A code is a public *selector* (4 characters, to find the row) and a *secret* (8 characters),
shown as ``ABCD-EFGH-JKMN``. Only the selector and a salted scrypt hash of the secret (a fresh
salt per code) are stored, so the database never holds a usable code. The alphabet leaves out
characters people mistake for each other (0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "ALPHABET",
    "SECRET_LENGTH",
    "SELECTOR_LENGTH",
    "IssuedCode",
    "format_code",
    "hash_secret",
    "new_code",
    "split_code",
    "verify",
]

ALPHABET = "ACDEFGHJKMNPQRTWXY34679"
SELECTOR_LENGTH = 4
SECRET_LENGTH = 8
# scrypt cost: a few milliseconds per code, so issuing a big cohort's codes stays quick while
# guessing a secret from a stolen database costs ~2**11 work per try.
_SCRYPT = {"n": 2**11, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True)
class IssuedCode:
    selector: str
    secret: str
    salt: bytes
    secret_hash: str

    @property
    def code(self) -> str:
        return format_code(self.selector + self.secret)


def _random_text(length: int, choice: Callable[[str], str]) -> str:
    return "".join(choice(ALPHABET) for _ in range(length))


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode("ascii"), salt=salt, **_SCRYPT).hex()


def new_code(choice: Callable[[str], str] = secrets.choice) -> IssuedCode:
    selector = _random_text(SELECTOR_LENGTH, choice)
    secret = _random_text(SECRET_LENGTH, choice)
    salt = secrets.token_bytes(16)
    return IssuedCode(selector, secret, salt, hash_secret(secret, salt))


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def split_code(typed: str) -> tuple[str, str] | None:
    """(selector, secret) of a code as typed (spaces, dashes and lower case accepted), or None
    when it cannot be a code at all."""
    cleaned = "".join(ch for ch in typed.upper() if not ch.isspace() and ch not in "-_.")
    if len(cleaned) != SELECTOR_LENGTH + SECRET_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned[:SELECTOR_LENGTH], cleaned[SELECTOR_LENGTH:]


def verify(secret: str, salt: bytes, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, salt), expected_hash)
