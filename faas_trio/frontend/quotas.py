"""How much of ``FAAS_HOME`` one user may fill with functions.

A user may hold at most ``FAAS_MAX_FUNCTIONS`` functions, whose sources add up to at most
``FAAS_MAX_SOURCE_BYTES`` (one source is already bounded by ``FAAS_MAX_BODY``). The default
total stays well under the 16 MiB a MongoDB document holds, since the Mongo store keeps a
user's functions in the user's document. Checked when a function is registered, against the
functions stored then: two registrations racing may pass the count by one each, never more.
"""

from __future__ import annotations

from ..core.errors import PayloadTooLarge, TooManyRequests
from ..core.messages import ListFunctions
from ..core.records import Function
from .peers import Peers

__all__ = ["check_function_room"]


async def check_function_room(
    peers: Peers, function: Function, *, max_functions: int, max_source_bytes: int
) -> None:
    """Check that ``function`` fits beside its user's other functions (one of the same name
    is replaced, so it does not count).

    Raises:
        TooManyRequests: the user holds ``max_functions`` others already.
        PayloadTooLarge: the sources would add up to more than ``max_source_bytes``.
        NotFound: no such user.

    Cancellation: blocks on dbmanager; nothing changes.
    """
    others = [f for f in (await peers.ask_db(ListFunctions(function.user))).functions
              if f.name != function.name]  # fmt: skip
    if len(others) >= max_functions:
        raise TooManyRequests(
            f"{function.user} has {len(others)} functions, the most FAAS_MAX_FUNCTIONS allows:"
            f" delete one (DELETE /u/{function.user}/fn/<name>) or have FAAS_MAX_FUNCTIONS"
            " raised"
        )
    total = sum(len(f.source.encode()) for f in others) + len(function.source.encode())
    if total > max_source_bytes:
        raise PayloadTooLarge(
            f"{function.user}'s function sources would add up to {total} bytes, over the"
            f" FAAS_MAX_SOURCE_BYTES of {max_source_bytes}: delete or shorten functions, or"
            " have FAAS_MAX_SOURCE_BYTES raised"
        )
