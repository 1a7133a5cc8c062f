"""Sandbox uid claims: distinct while held, shared through the lock directory, released."""

from __future__ import annotations

import os
import signal
import subprocess
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


@pytest.mark.skipif(os.geteuid() != 0, reason="running a process as another uid needs root")
def test_a_uid_still_in_use_is_not_given_back(tmp_path: Path) -> None:
    locks = tmp_path / "uids"
    uid = 300_000 + os.getpid() % 1000
    claim = claim_uid(uid, 1, locks)
    straggler = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    claim.release()  # kills the straggler, but keeps the uid
    with pytest.raises(UidsExhausted):
        claim_uid(uid, 1, locks)  # killed, but not reaped yet: it still counts
    assert straggler.wait(timeout=5) == -signal.SIGKILL
    again = claim_uid(uid, 1, locks)  # now gone: the held-back claim went back first
    assert again.uid == uid
    again.release()
