"""The service hashes passwords with argon2id at OWASP-grade cost. The test suite swaps in a cheap hasher
for speed (tests/conftest.py); this test reads the one the service built."""

from __future__ import annotations

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
