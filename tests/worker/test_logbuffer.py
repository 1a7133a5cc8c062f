"""The capped log buffer."""

from __future__ import annotations

from faas_trio.worker.sandbox.logbuffer import LogBuffer


def test_log_buffer_caps_bytes_and_notes_truncation() -> None:
    buffer = LogBuffer(5)
    buffer.add("abc")
    buffer.add(b"defgh")
    assert buffer.take() == "abcde\n[… output truncated]\n"
    assert buffer.take() == ""
