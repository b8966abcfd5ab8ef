"""Passkeys: the WebAuthn ceremonies, by py_webauthn.

An account's passkeys live on the user row (see :mod:`.passkey_store`),
found at log-in by the random user handle (``passkey_handle``) the
authenticator gives back.

The protocol work (parsing, the client data, the RP ID hash, flags,
signatures, sign counts) is py_webauthn's (W3C WebAuthn Level 2/3); this
module keeps the challenges and the records:

* Challenges are 32 random bytes kept in the session under
  :data:`SESSION_KEY`, bound to the ceremony kind, good for
  :data:`CHALLENGE_TTL` seconds, taken out of the session before the
  response is checked, and spent in the session store with a
  compare-and-swap, so that even two parallel requests of one session cannot
  use one challenge twice (WebAuthn 13.4.3).
* The relying-party ID and origin come from ``RIVO_PASSKEY_RP_ID`` /
  ``RIVO_PASSKEY_ORIGIN``, else from ``RIVO_EXTERNAL_URL`` (see
  :func:`relying_party`): never from a Host header outside debug mode.
* A log-in by passkey requires user verification (a PIN or biometric on
  the authenticator): it stands for both factors (NIST SP 800-63B 5.1.8,
  multi-factor cryptographic authenticator).
* The passkeys a ceremony read are written back by a compare-and-swap
  (:func:`.passkey_store.change`), and its checks are made again on what is
  stored when another request changed them meanwhile: a log-in with a
  passkey removed since is refused, as is a second log-in with one sign
  count (a cloned authenticator's twin).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import typing as t
from urllib.parse import urlsplit

from flask import session
from webauthn import generate_authentication_options
from webauthn import generate_registration_options
from webauthn import options_to_json
from webauthn import verify_authentication_response
from webauthn import verify_registration_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import AuthenticatorTransport
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

from ..exceptions import ConfigError
from ..exceptions import RivoError
from ..i18n import gettext as _
from ..ids import counter_key
from ..settings import PASSKEY_CHALLENGE
from ..stores.base import Record
from . import shared
from .mail import site_url
from .models import UserState
from .passkey_store import MAX_PASSKEYS
from .passkey_store import NAME_LENGTH
from .passkey_store import Passkey
from .passkey_store import PasskeysBusyError
from .passkey_store import change
from .passkey_store import passkeys_of
from .state import users_state

if t.TYPE_CHECKING:
    from .models import User

#: Where the pending ceremony's challenge waits in the session (a transient
#: key: an anonymous session holding only it expires as a form's would).
SESSION_KEY = PASSKEY_CHALLENGE
#: Seconds a challenge stays good (and the browser is given to answer).
CHALLENGE_TTL = 300.0
#: The ceremonies; a challenge made for one never serves another.
REGISTER = "register"
AUTHENTICATE = "authenticate"
REAUTHENTICATE = "reauthenticate"


class PasskeyError(RivoError):
    """A ceremony failed.

    :param reason: a short word for logs and signals (``"challenge"``,
        ``"unknown"``, ``"invalid"``...).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        #: Why, in one word.
        self.reason = reason


def relying_party() -> tuple[str, str]:
    """The relying-party ID and the origin ceremonies must come from.

    :raises ConfigError: without ``RIVO_PASSKEY_ORIGIN``,
        ``RIVO_EXTERNAL_URL`` or ``SERVER_NAME`` outside debug mode (the
        account pages answer it with HTTP 503).
    """
    settings = users_state().settings()
    base = settings.passkey_origin or site_url(shared.app())
    if base is None:
        raise ConfigError(
            "RIVO_EXTERNAL_URL",
            "set it (or RIVO_PASSKEY_ORIGIN) to your site's address, such as"
            " https://example.com: passkeys are bound to it",
        )
    parts = urlsplit(base)
    rp_id = settings.passkey_rp_id or parts.hostname or ""
    if _is_ip(rp_id):
        raise ConfigError(
            "RIVO_PASSKEY_RP_ID",
            f"passkeys need a domain name, not the address {rp_id}: open the"
            " site by name (http://localhost:5000 in development), or set"
            " RIVO_EXTERNAL_URL or RIVO_PASSKEY_RP_ID",
        )
    return rp_id, f"{parts.scheme}://{parts.netloc}"


def _is_ip(host: str) -> bool:
    """Whether ``host`` is an IP address (WebAuthn refuses it as an RP ID)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _issue(kind: str) -> bytes:
    """A fresh challenge for a ``kind`` ceremony, replacing any pending one."""
    challenge = secrets.token_bytes(32)
    session[SESSION_KEY] = {
        "kind": kind,
        "challenge": bytes_to_base64url(challenge),
        "expires": shared.now() + CHALLENGE_TTL,
    }
    return challenge


def _take(kind: str) -> bytes:
    """The pending challenge of a ``kind`` ceremony, used up.

    :raises PasskeyError: ``"challenge"`` if there is none for this kind in
        this session, it expired, or it was spent already.
    """
    pending = session.pop(SESSION_KEY, None)
    now = shared.now()
    if (
        not isinstance(pending, dict)
        or pending.get("kind") != kind
        or not isinstance(pending.get("expires"), float)
        or pending["expires"] <= now
    ):
        raise PasskeyError("challenge")
    text = str(pending.get("challenge"))
    spent = Record(
        data={},
        version=1,
        created_at=now,
        accessed_at=now,
        id_issued_at=now,
        expires_at=now + CHALLENGE_TTL,
    )
    # Parallel requests of one session may both have read it from the
    # session: only the first to write this counter goes ahead.
    if not shared.session_store().save(counter_key("passkey", text), spent, None):
        raise PasskeyError("challenge", "spent")
    return base64url_to_bytes(text)


def registration_options(user: User) -> str:
    """The JSON for ``navigator.credentials.create()`` to add a passkey.

    A discoverable credential (resident key required, so a log-in needs no
    address typed), user verification preferred, the account's passkeys
    excluded. Gives the user a random handle first if it has none; the
    caller commits.
    """
    if user.passkey_handle is None:
        user.passkey_handle = bytes_to_base64url(secrets.token_bytes(32))
    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=shared.app().config["RIVO_SITE_NAME"],
        user_name=user.email,
        user_id=base64url_to_bytes(user.passkey_handle),
        challenge=_issue(REGISTER),
        timeout=int(CHALLENGE_TTL * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.id))
            for k in passkeys_of(user)
        ],
    )
    return options_to_json(options)


def register(user: User, credential: str, name: str) -> Passkey:
    """Check the browser's answer to :func:`registration_options` and keep
    the new passkey on ``user`` (committed at once).

    :param credential: the ``PublicKeyCredential`` as JSON text.
    :raises PasskeyError: ``"challenge"`` (none pending, expired, spent),
        ``"invalid"`` (py_webauthn refused it: wrong origin, RP ID,
        challenge, flags, malformed), ``"duplicate"``, ``"full"``, or
        ``"busy"`` (other requests kept changing the passkeys).
    """
    expected = _take(REGISTER)
    rp_id, origin = relying_party()
    if user.passkey_handle is None:
        raise PasskeyError("challenge", "no user handle")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=expected,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
        transports = _transports(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyError("invalid", str(error)) from error
    added = Passkey(
        id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        name=(name.strip() or _("Passkey"))[:NAME_LENGTH],
        created_at=shared.now(),
        transports=transports,
        backed_up=verified.credential_backed_up,
    )

    def edit(keys: list[Passkey]) -> tuple[list[Passkey], Passkey]:
        if any(k.id == added.id for k in keys):
            raise PasskeyError("duplicate")
        if len(keys) >= MAX_PASSKEYS:
            raise PasskeyError("full")
        return [*keys, added], added

    return _change(user, edit)


def _transports(credential: str) -> list[str]:
    """The transports the browser reported, those py_webauthn knows."""
    response = json.loads(credential).get("response", {})
    known = {member.value for member in AuthenticatorTransport}
    return [str(x) for x in response.get("transports", []) if x in known]


def authentication_options(user: User | None = None) -> str:
    """The JSON for ``navigator.credentials.get()``.

    On the log-in page (no ``user``) no credentials are listed: the browser
    offers the discoverable ones it has for this site, so no address is
    typed or told. To re-authenticate a logged-in ``user``, their passkeys
    are listed. User verification is required either way: the passkey
    stands for both factors.
    """
    rp_id, _origin = relying_party()
    allowed = [] if user is None else passkeys_of(user)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=_issue(AUTHENTICATE if user is None else REAUTHENTICATE),
        timeout=int(CHALLENGE_TTL * 1000),
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.id)) for k in allowed
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def authenticate(credential: str, user: User | None = None) -> tuple[User, Passkey]:
    """Check an assertion; return its verified user and passkey, sign count
    and last use updated and committed (the caller logs the user in or
    confirms the log-in).

    :param credential: the ``PublicKeyCredential`` as JSON text.
    :param user: the logged-in user who re-authenticates, whose passkey it
        must be; ``None`` on the log-in page.
    :raises PasskeyError: ``"challenge"``; ``"unknown"`` (no account has
        this handle and credential: removed, or never here; or not
        ``user``'s), also for an account that may not log in (unconfirmed
        or closed), so the answer tells nothing of the account;
        ``"invalid"`` (py_webauthn refused it: signature, origin, RP ID,
        user not verified, a sign count that did not grow, the mark of a
        cloned authenticator), ``"busy"`` (other requests kept changing the
        passkeys). A passkey removed, or its sign count reached, by another
        request after this one read it is ``"unknown"`` or ``"invalid"``
        too.
    """
    expected = _take(AUTHENTICATE if user is None else REAUTHENTICATE)
    rp_id, origin = relying_party()
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyError("invalid", str(error)) from error
    owner = _owner(parsed.response.user_handle)
    keys = [] if owner is None else passkeys_of(owner)
    wanted = bytes_to_base64url(parsed.raw_id)
    found = next((k for k in keys if k.id == wanted), None)
    if (
        owner is None
        or found is None
        or owner.state is not UserState.VERIFIED
        or (user is not None and owner.get_id() != user.get_id())
    ):
        raise PasskeyError("unknown")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=expected,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=base64url_to_bytes(found.public_key),
            credential_current_sign_count=found.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyError("invalid", str(error)) from error
    count = verified.new_sign_count

    def edit(stored: list[Passkey]) -> tuple[list[Passkey], Passkey]:
        # The same checks on the passkeys as stored now, which another
        # request may have changed since they were read (on the first try
        # they are what was checked above).
        key = next((k for k in stored if k.id == wanted), None)
        if key is None or key.public_key != found.public_key:
            raise PasskeyError("unknown", "removed meanwhile")
        if (count > 0 or key.sign_count > 0) and count <= key.sign_count:
            raise PasskeyError("invalid", "the sign count was used meanwhile")
        key.sign_count = count
        key.last_used_at = shared.now()
        return stored, key

    return owner, _change(owner, edit)


def _change(
    user: User, edit: t.Callable[[list[Passkey]], tuple[list[Passkey], Passkey]]
) -> Passkey:
    """:func:`.passkey_store.change`, its giving up a :class:`PasskeyError`."""
    try:
        return change(user, edit)
    except PasskeysBusyError as error:
        raise PasskeyError("busy", str(error)) from error


def _owner(handle: bytes | None) -> User | None:
    """The account with this user handle (a discoverable credential always
    returns it), or ``None``.

    A user store of the application's own written before passkeys may lack
    ``by_passkey_handle``: then no passkey logs anyone in (rather than a 500).
    """
    finder = getattr(users_state().store, "by_passkey_handle", None)
    if not handle or finder is None:
        return None
    return t.cast("User | None", finder(bytes_to_base64url(handle)))
