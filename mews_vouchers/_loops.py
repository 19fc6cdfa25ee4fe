"""Objects that outlive an event loop: which loop their asyncio parts belong to.

asyncio's locks, events, sessions and connections belong to the loop they were first used
in, and a client may be used by one ``asyncio.run`` after another.  The requester, the
rate limiters and the transport each keep a :class:`LoopBinding` and make their parts
anew when it says the loop changed.
"""

from __future__ import annotations

import asyncio
import weakref

from ._errors import MewsConfigError


class LoopBinding:
    """Remembers the event loop an object's asyncio parts were made for.

    Two loops running at once, in two threads, cannot share one client: asking from the
    second while the first runs raises :class:`MewsConfigError`.
    """

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    @property
    def bound(self) -> bool:
        """Return whether a loop was bound yet."""
        return self._loop is not None

    def is_current(self) -> bool:
        """Return whether the running loop is the bound one."""
        return self._loop is not None and self._loop() is asyncio.get_running_loop()

    def moved(self) -> bool:
        """Bind to the running loop; return whether it is new (first use included)."""
        loop = asyncio.get_running_loop()
        bound = self._loop() if self._loop is not None else None
        if bound is loop:
            return False
        if bound is not None and bound.is_running():
            raise MewsConfigError(
                "this MewsClient is in use by an event loop running in another thread:"
                " use one client per event loop"
            )
        self._loop = weakref.ref(loop)
        return True
