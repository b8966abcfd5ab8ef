"""The pieces of a TOTP second factor: secrets, codes, recovery codes, QR.

Pure functions over maintained libraries, none of the cryptography by hand:

* TOTP (RFC 6238, SHA-1, 6 digits, 30-second steps, the parameters every
  authenticator app reads) by ``pyotp``; a secret has 160 bits, as RFC 4226
  recommends.
* The secret at rest is encrypted with Fernet (``cryptography``: AES-128-CBC
  with HMAC-SHA256) under a key derived from ``SECRET_KEY`` by HKDF; the
  keys of ``SECRET_KEY_FALLBACKS`` still decrypt, so a rotated secret key
  does not lock anybody out (OWASP ASVS 2.8.1, 6.4.1: secrets of the
  authenticator protected at rest).
* Recovery codes carry 120 bits from :mod:`secrets`; so many that one
  SHA-256 each is enough to store them (NIST SP 800-63B 5.1.2.2: look-up
  secrets of at least 112 bits are hashed with an approved one-way
  function; fewer would need a salted, slow one), compared in constant
  time.
* The QR code by ``segno``, as inline SVG: no image file, nothing cached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import typing as t
import unicodedata

import pyotp
import segno
from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from markupsafe import Markup

#: Seconds per TOTP time step (RFC 6238's default; what apps expect).
STEP = 30
#: Steps either side of now whose code is accepted: clocks drift, and a code
#: typed in the last seconds of its step arrives in the next (RFC 6238 5.2).
WINDOW = 1
#: Recovery codes given at once.
RECOVERY_CODES = 10
#: Recovery codes left at which the owner is warned to make new ones.
RECOVERY_LOW = 3
#: Bytes of randomness in a recovery code (120 bits: 24 Base32 characters).
_RECOVERY_BYTES = 15
_HKDF_INFO = b"flask-rivo.totp-secret"


class UnreadableSecret(Exception):  # noqa: N818 (a state, not a failure to report)
    """A stored secret no current or fallback key decrypts."""


def _fernet(key: str | bytes) -> Fernet:
    raw = key.encode() if isinstance(key, str) else key
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO
    ).derive(raw)
    return Fernet(base64.urlsafe_b64encode(derived))


def _box() -> MultiFernet:
    """Encrypts with ``SECRET_KEY``, decrypts with it and its fallbacks."""
    config = current_app.config
    keys = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return MultiFernet([_fernet(key) for key in keys if key])


def new_secret() -> str:
    """A fresh TOTP secret, Base32 (32 characters, 160 bits)."""
    return pyotp.random_base32(32)


def seal(secret: str) -> str:
    """``secret`` encrypted for the database (or the session store)."""
    return _box().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    """The secret :func:`seal` encrypted.

    :raises UnreadableSecret: when no key decrypts it (the secret key it
        was sealed with is no longer among ``SECRET_KEY_FALLBACKS``).
    """
    try:
        return _box().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError) as error:
        raise UnreadableSecret from error


def grouped(secret: str) -> str:
    """``ABCDEFGH...`` as ``ABCD EFGH ...``: easier to type into an app."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str, label: str) -> Markup:
    """``uri`` as a QR code in an inline ``<svg>`` named ``label`` for
    screen readers (``role="img"`` and a ``<title>``)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, title=label, svgclass="rivo-qr", lineclass=None, omitsize=True
    )
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 (segno's own SVG)


def step_of(now: float) -> int:
    """The TOTP time step of the moment ``now`` (seconds since the epoch)."""
    return int(now // STEP)


def matching_step(secret: str, code: str, now: float, after: int | None) -> int | None:
    """The time step whose code ``code`` is, within :data:`WINDOW` of
    ``now``, and later than ``after`` (the last step accepted); else ``None``.

    Steps at or before ``after`` are refused: a code, once accepted, is
    never accepted again, even within its window (RFC 6238 5.2, OWASP
    MFA Cheat Sheet), nor is an older one. Each candidate is compared in
    constant time.
    """
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None  # compare_digest raises TypeError on non-ASCII text
    totp = pyotp.TOTP(secret)
    now_step = step_of(now)
    found = None
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        candidate = totp.generate_otp(step)
        if hmac.compare_digest(candidate, code) and (after is None or step > after):
            found = step
    return found


def normalize_code(text: str) -> str:
    """A code as typed, without spaces and dashes, lower case, its digits
    ASCII: a phone keyboard may type Arabic-Indic or full-width ones
    (``unicodedata.decimal``), which are the same code."""
    plain = "".join(text.split()).replace("-", "").lower()
    return "".join(_ascii_digit(char) for char in plain)


def _ascii_digit(char: str) -> str:
    value = unicodedata.decimal(char, None)
    return char if value is None else str(value)


def new_recovery_codes() -> list[str]:
    """:data:`RECOVERY_CODES` fresh codes, shown as six groups of four:
    ``xxxx-xxxx-xxxx-xxxx-xxxx-xxxx``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


def _code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def hashed_codes(codes: t.Iterable[str]) -> str:
    """What the ``recovery_codes`` column keeps of ``codes``: their hashes."""
    return json.dumps([_code_hash(code) for code in codes])


def code_hashes(stored: str | None) -> list[str]:
    """The hashes in a ``recovery_codes`` column (none if it is unreadable)."""
    try:
        loaded = json.loads(stored or "[]")
    except ValueError:
        return []
    if not isinstance(loaded, list):
        return []
    return [item for item in loaded if isinstance(item, str)]


def without_code(stored: str | None, code: str) -> str | None:
    """The ``recovery_codes`` column once ``code`` is used, or ``None``
    when ``code`` is none of them.

    Every stored hash is compared, in constant time, so the time taken
    does not tell which one matched.
    """
    wanted = _code_hash(code)
    hashes = code_hashes(stored)
    matched = [hmac.compare_digest(wanted, known) for known in hashes]
    if not any(matched):
        return None
    kept = [known for known, hit in zip(hashes, matched, strict=True) if not hit]
    return json.dumps(kept)
