"""A software WebAuthn authenticator for the tests: real keys, real answers.

It makes an EC P-256 key with ``cryptography`` and builds the very bytes an
authenticator and a browser would (``none`` attestation, authenticator data
with the RP ID hash, flags and sign count, a COSE key in CBOR, an ECDSA
signature over the authenticator data and the client data hash), so the
server's py_webauthn checks run in full. Every part can be made wrong on
purpose: the origin, the RP ID, the flags, the counter, the handle.
"""

from __future__ import annotations

import hashlib
import json
import os
import typing as t
from base64 import urlsafe_b64decode
from base64 import urlsafe_b64encode

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

#: Authenticator-data flags (WebAuthn 6.1).
UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """One passkey on a software authenticator.

    :param origin: the origin the "browser" puts in the client data.
    :param rp_id: what the authenticator hashes into its data; by default
        the one the options name.
    """

    def __init__(self, origin: str, rp_id: str | None = None) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0
        self.user_handle: str | None = None

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, rp_id: str, flags: int, attested: bool) -> bytes:
        data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + self.sign_count.to_bytes(4, "big")
        )
        if attested:
            data += (
                bytes(16)  # AAGUID: none
                + len(self.credential_id).to_bytes(2, "big")
                + self.credential_id
                + self._cose_key()
            )
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def create(
        self,
        options: dict[str, t.Any],
        *,
        origin: str | None = None,
        verified: bool = True,
    ) -> str:
        """The ``PublicKeyCredential`` JSON answering registration ``options``."""
        rp_id = self.rp_id or options["rp"]["id"]
        self.user_handle = options["user"]["id"]
        flags = UP | AT | (UV if verified else 0)
        attestation = cbor2.dumps(
            {
                "fmt": "none",
                "attStmt": {},
                "authData": self._auth_data(rp_id, flags, attested=True),
            }
        )
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "attestationObject": b64(attestation),
                    "transports": ["internal"],
                },
                "clientExtensionResults": {},
            }
        )

    def get(
        self,
        options: dict[str, t.Any],
        *,
        origin: str | None = None,
        verified: bool = True,
        count: bool = True,
        user_handle: str | None = None,
    ) -> str:
        """The ``PublicKeyCredential`` JSON answering authentication ``options``."""
        rp_id = self.rp_id or options["rpId"]
        if count:
            self.sign_count += 1
        auth_data = self._auth_data(rp_id, UP | (UV if verified else 0), False)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        handle = user_handle or self.user_handle
        assert handle is not None, "register first (or give user_handle)"
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "authenticatorData": b64(auth_data),
                    "signature": b64(signature),
                    "userHandle": handle,
                },
                "clientExtensionResults": {},
            }
        )
