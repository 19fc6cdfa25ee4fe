"""The one UUID parser: every id string the SDK reads, from a user or from the wire.

The models convert ids given as strings with it (raising ``MewsValidationError`` on
failure), the converter reads wire ids with it, and the fast wire path reads the ids that
repeat across a page with it.  Ids repeat a lot (the service of every voucher added, the
service and enterprise of every voucher read), so parsed ids are kept in a small cache,
emptied when full so that a long stream cannot grow it without bound.  UUIDs are
immutable: handing the same object to many models is safe.
"""

from __future__ import annotations

import uuid

__all__ = ["CACHED", "parse_uuid"]

_new = object.__new__
_set = object.__setattr__
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown
_CACHE: dict[str, uuid.UUID] = {}
_CACHE_LIMIT = 4096
CACHED = _CACHE.get
"""The UUID parsed from a string before, if it is still cached (else None)."""


def parse_uuid(text: str) -> uuid.UUID:
    """Return the UUID written in *text*, or raise ValueError.

    Takes what ``uuid.UUID(text)`` takes (hyphens anywhere, braces, a ``urn:uuid:``
    prefix, either case) with the same result, but only when the 32 digits are ASCII hex
    digits: ``uuid.UUID`` reads them with ``int()``, which also takes other Unicode
    digits, an underscore between digits, a sign or surrounding blanks.
    """
    if type(text) is not str:
        raise ValueError(f"not a UUID string: {text!r}")
    cached = _CACHE.get(text)
    if cached is not None:
        return cached
    digits = text.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    try:
        if len(digits) != 32 or not digits.isascii() or not digits.isalnum():
            raise ValueError
        number = int(digits, 16)  # refuses any letter past f
    except ValueError:
        raise ValueError(f"badly formed hexadecimal UUID string: {text!r}") from None
    # uuid.UUID(text) would check again what the lines above checked.
    value = _new(uuid.UUID)
    _set(value, "int", number)
    _set(value, "is_safe", _UNKNOWN_SAFETY)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[text] = value
    return value
