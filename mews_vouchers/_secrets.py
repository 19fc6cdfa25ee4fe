"""Masking of tokens: a token never appears whole in a repr, a log line or an exception."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Sequence

from ._constants import MASK_SHOWN

# Attributes of our errors that may quote the server: each is masked like the message.
_QUOTING = ("message", "request_id")


def mask(token: str) -> str:
    """Return *token* with all but its first and last four characters hidden (``C66E…453D``)."""
    if len(token) <= 3 * MASK_SHOWN:
        return "…" if token else ""
    return f"{token[:MASK_SHOWN]}…{token[-MASK_SHOWN:]}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return *text* with every occurrence of each secret replaced by its masked form."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask(secret))
    return text


class RedactedError(Exception):
    """Stands in for an exception whose text held a token: its description, tokens masked."""


def _linked(exc: BaseException) -> Iterable[BaseException]:
    """Yield *exc* and every exception reachable from it: causes, contexts, group members."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _texts(exc: BaseException) -> Iterable[str]:
    """Yield what a person could read off *exc*: message, arguments and attributes."""
    for show in (str, lambda e: repr(e.args), lambda e: repr(vars(e))):
        try:
            yield show(exc)  # vars() holds e.g. a JSONDecodeError's whole document
        except Exception:  # a text that cannot be made cannot leak either
            continue


def holds_secret(exc: BaseException, secrets: Sequence[str]) -> bool:
    """Return whether any text reachable from *exc* contains one of *secrets*."""
    return any(
        secret and secret in text
        for linked in _linked(exc)
        for text in _texts(linked)
        for secret in secrets
    )


def _describe(exc: BaseException, indent: str = "") -> list[str]:
    lines = [indent + line for line in traceback.format_exception_only(exc)]
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            lines += _describe(inner, indent + "  ")
    return lines


def scrub(error: BaseException, secrets: Sequence[str]) -> None:
    """Mask *secrets* in *error*'s message and quoted fields; replace causes that hold one.

    Runs before anything is cut to length, so a token is never shown in part either.  A
    cause (or context) quoting a token, such as a parse error echoing an unreadable field,
    becomes a :class:`RedactedError` with its description masked; the original is dropped.
    """
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    for name in _QUOTING:
        value = getattr(error, name, None)
        if isinstance(value, str):
            setattr(error, name, redact(value, secrets))
    for link in ("__cause__", "__context__"):
        linked = getattr(error, link)
        if linked is not None and holds_secret(linked, secrets):
            text = redact("".join(_describe(linked)).rstrip(), secrets)
            setattr(error, link, RedactedError(text))
