"""The service hashes passwords with argon2id at OWASP-grade cost. The test suite swaps in a cheap hasher
for speed (tests/conftest.py); this test reads the one the service built."""

from __future__ import annotations

import uuid

from argon2 import Type

from loopdesk.core import security


def test_the_service_hashes_with_argon2id_at_a_strong_cost(_fast_password_hashing):
    hasher = _fast_password_hashing  # the service's own hasher, set aside while the suite runs
    assert hasher.type is Type.ID
    assert hasher.time_cost >= 3 and hasher.memory_cost >= 64 * 1024
    stored = hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$") and "m=65536,t=3" in stored
    assert hasher.verify(stored, "correct horse battery")
    # An unknown account is checked against a dummy hash made at the same cost, and never passes.
    assert "m=65536,t=3" in security._DUMMY_HASH
    assert not security.verify_password(None, "anything")


def test_an_expired_access_token_is_refused_though_its_signature_was_verified_before() -> None:
    from datetime import timedelta

    from loopdesk.core.security import create_access_token, decode_access_token

    user = uuid.uuid4()
    token, claims = create_access_token(user, key="k" * 32, ttl=timedelta(minutes=5))
    first = decode_access_token(token, key="k" * 32)
    assert first is not None and (first.user_id, first.jti) == (user, claims.jti)
    assert decode_access_token(token, key="k" * 32) == first  # verified once, then from the cache
    assert decode_access_token(token, key="x" * 32) is None  # another key: verified again, and refused
    expired, _ = create_access_token(user, key="k" * 32, ttl=timedelta(seconds=-5))
    assert decode_access_token(expired, key="k" * 32) is None
    assert decode_access_token(expired, key="k" * 32) is None
