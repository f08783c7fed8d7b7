"""One RSA key pair per test process for the fake GitHub App (RSA keygen is slow)."""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@functools.lru_cache(maxsize=1)
def generate_app_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a 2048-bit RSA key, as GitHub hands App owners."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        # GitHub's downloaded App keys are PKCS#1 ("BEGIN RSA PRIVATE KEY").
        format=serialization.PrivateFormat.TraditionalOpenSSL,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode()
    return private_pem, public_pem
