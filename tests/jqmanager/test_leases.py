"""The worker table: liveness, lease loss by silence and by missing heartbeats, cancels."""

from __future__ import annotations

from faas_trio.jqmanager.leases import LeaseTable

from .jq_fakes import make_function, make_job


def table() -> LeaseTable:
    return LeaseTable(lease_timeout=3.0, dispatch_grace=1.0)


def test_silent_worker_expires_with_its_leases() -> None:
    t = table()
    job = make_job()
    t.grant(job, make_function(), "w1", now=0.0)
    t.seen("w2", now=2.0)
    assert t.expire(now=3.0) == []
    dead = t.expire(now=3.5)
    assert [w.name for w in dead] == ["w1"]
    assert list(dead[0].leases) == [job.id]
    assert job.id not in t
    assert t.alive == 1


def test_any_contact_keeps_a_worker_alive() -> None:
    t = table()
    t.grant(make_job(), make_function(), "w1", now=0.0)
    t.seen("w1", now=2.5)
    assert t.expire(now=5.0) == []
    t.heartbeat("w1", [], 2, False, now=5.4)
    assert t.expire(now=8.0) == []


def test_job_missing_from_two_heartbeats_after_grace_is_lost() -> None:
    t = table()
    job = make_job()
    t.grant(job, make_function(), "w1", now=0.0)
    # Within the dispatch grace, absence does not count.
    assert t.heartbeat("w1", [], 1, False, now=0.5)[1] == []
    assert t.heartbeat("w1", [], 1, False, now=0.9)[1] == []
    assert t.heartbeat("w1", [], 1, False, now=1.0)[1] == []
    _, lost = t.heartbeat("w1", [], 1, False, now=1.5)
    assert [lease.job.id for lease in lost] == [job.id]
    assert job.id not in t
    assert t.running == 0


def test_a_present_job_resets_its_missing_count() -> None:
    t = table()
    job = make_job()
    t.grant(job, make_function(), "w1", now=0.0)
    assert t.heartbeat("w1", [], 1, False, now=1.0)[1] == []
    assert t.heartbeat("w1", [job.id], 1, False, now=1.5)[1] == []
    assert t.heartbeat("w1", [], 1, False, now=2.0)[1] == []
    assert job.id in t


def test_release_and_counts() -> None:
    t = table()
    a, b = make_job(), make_job()
    t.grant(a, make_function(), "w1", now=0.0)
    t.grant(b, make_function(), "w2", now=0.0)
    t.heartbeat("w1", [a.id], 4, False, now=0.1)
    t.heartbeat("w2", [b.id], 2, True, now=0.1)
    assert (t.running, t.alive, t.slots) == (2, 2, 6)
    lease = t.release(a.id)
    assert lease is not None and lease.worker == "w1"
    assert t.release(a.id) is None
    assert t.seen("w1", now=0.1).leases == {}  # seen at the same instant: nothing changes
    assert t.seen("w2", now=0.1).draining


def test_cancel_wakes_the_worker_and_is_taken_once() -> None:
    t = table()
    state = t.seen("w1", now=0.0)
    wakeup = state.wakeup
    t.add_cancel("w1", "j1")
    t.add_cancel("nobody", "j2")  # an unknown worker has nothing to cancel
    assert wakeup.is_set()
    assert state.take_cancels() == ["j1"]
    assert state.take_cancels() == []
    assert not state.wakeup.is_set()
