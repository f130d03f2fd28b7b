"""The tool's RSA key set: which key signs, which keys are published at ``/lti/jwks``.

Production keys come from a Kubernetes Secret mounted as a directory (``LTI_KEYS_DIR``): every ``*.pem`` file in
it is one RSA private key. All of them are published; the last one in file-name order signs. Rotation is
therefore "add a newer file, wait for the platforms' JWKS caches to expire, remove the old file" (docs/lti.md).
Without ``LTI_KEYS_DIR`` the process generates one key in memory: fine for a demo or a test, wrong for several
replicas (each would sign with a different key), so it is logged as a warning.

Usage::

    keys = ToolKeys.from_directory(Path("/var/run/cloudemy/lti-keys"))  # or ToolKeys.ephemeral()
    keys.jwks()                         # {"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ..., ...}]}
    token = keys.sign({"iss": client_id, ...})
"""

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

SIGNING_ALGORITHM = "RS256"
MIN_KEY_BITS = 2048


class KeyConfigurationError(Exception):
    """The key directory does not hold usable RSA private keys; the message names the file, never its content."""


@dataclass(frozen=True)
class ToolKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": SIGNING_ALGORITHM, "use": "sig"}


def thumbprint(private_key: rsa.RSAPrivateKey) -> str:
    """RFC 7638 JWK thumbprint of the public key: a stable ``kid`` that changes only with the key."""
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class ToolKeys:
    """The published keys, oldest first; the newest signs."""

    def __init__(self, keys: list[ToolKey], *, ephemeral: bool) -> None:
        if not keys:
            raise KeyConfigurationError("no LTI key")
        self.keys = keys
        self.ephemeral = ephemeral

    @property
    def signing(self) -> ToolKey:
        return self.keys[-1]

    @classmethod
    def ephemeral_keys(cls) -> "ToolKeys":
        private = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
        return cls([ToolKey(thumbprint(private), private)], ephemeral=True)

    @classmethod
    def from_directory(cls, directory: Path) -> "ToolKeys":
        files = sorted(p for p in directory.glob("*.pem") if p.is_file())
        if not files:
            raise KeyConfigurationError(f"LTI_KEYS_DIR {directory} holds no *.pem file")
        keys = []
        for path in files:
            try:
                private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError, OSError):
                raise KeyConfigurationError(f"{path.name} is not an unencrypted PEM private key") from None
            if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < MIN_KEY_BITS:
                raise KeyConfigurationError(f"{path.name} is not an RSA key of at least {MIN_KEY_BITS} bits")
            keys.append(ToolKey(thumbprint(private), private))
        return cls(keys, ephemeral=False)

    @classmethod
    def load(cls, directory: str) -> "ToolKeys":
        """Keys from ``LTI_KEYS_DIR``, or one in-memory key (with a warning) when it is empty."""
        if directory:
            keys = cls.from_directory(Path(directory))
            log.info("LTI keys loaded", extra={"keys": len(keys.keys), "signing_kid": keys.signing.kid})
            return keys
        log.warning(
            "LTI_KEYS_DIR is not set: LTI uses a key generated in memory, which changes on every restart and "
            "differs between replicas; mount a Secret for production"
        )
        return cls.ephemeral_keys()

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        signing = self.signing
        return jwt.encode(claims, signing.private_key, algorithm=SIGNING_ALGORITHM, headers={"kid": signing.kid})
