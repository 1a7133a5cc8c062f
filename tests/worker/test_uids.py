"""Sandbox uid claims: distinct while held, shared through the lock directory, released."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas_trio.worker.sandbox.uids import UidsExhausted, claim_uid


def test_claims_are_distinct_until_released(tmp_path: Path) -> None:
    locks = tmp_path / "uids"
    first = claim_uid(100, 2, locks)
    second = claim_uid(100, 2, locks)
    assert (first.uid, second.uid) == (100, 101)
    with pytest.raises(UidsExhausted):
        claim_uid(100, 2, locks)
    first.release()
    first.release()
    again = claim_uid(100, 2, locks)
    assert again.uid == 100
    again.release()
    second.release()


def test_a_lock_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    locks = tmp_path / "uids"
    locks.mkdir(mode=0o777)
    locks.chmod(0o777)
    with pytest.raises(PermissionError):
        claim_uid(100, 2, locks)
