"""SCRAM-SHA-256 password verifiers, as Postgres stores them (RFC 5802, RFC 7677).

Sending `ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'` instead of the plain password means
the password itself never reaches the server, so no statement log (`log_statement=ddl`
is common on managed Postgres) can record it. Postgres stores such a verifier as given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 4096  # Postgres' default (scram_iterations)


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The verifier Postgres would store for `password`. Passwords here are ASCII, so
    SASLprep (which Postgres applies) leaves them unchanged."""
    if not password.isascii():
        raise ValueError("use an ASCII password (SASLprep is not applied here)")
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
