"""Held requests for work: first come, first served; closed slots get nothing."""

from __future__ import annotations

from faas_trio.core.messages import Dispatch
from faas_trio.jqmanager.slots import ReadySlots

from .jq_fakes import make_function, make_job


def test_oldest_open_slot_first_and_closing_wakes() -> None:
    slots = ReadySlots()
    a = slots.open("w1")
    b = slots.open("w2")
    c = slots.open("w1")
    slots.close(a)
    assert a.event.is_set() and a.dispatch is None
    assert slots.first() is b
    dispatch = Dispatch(make_job(), make_function())
    slots.fill(b, dispatch)
    assert b.dispatch is dispatch and b.event.is_set()
    assert slots.first() is c
    assert slots.close_worker("w1") == 1
    assert slots.first() is None and len(slots) == 0
    slots.close(c)  # idempotent
