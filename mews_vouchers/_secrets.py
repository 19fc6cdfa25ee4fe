"""Masking of tokens: a token never appears whole in a repr, a log line or an exception."""

from __future__ import annotations

from collections.abc import Iterable

_SHOWN = 4


def mask(token: str) -> str:
    """Return *token* with all but its first and last four characters hidden (``C66E…453D``)."""
    if len(token) <= 3 * _SHOWN:
        return "…" if token else ""
    return f"{token[:_SHOWN]}…{token[-_SHOWN:]}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return *text* with every occurrence of each secret replaced by its masked form."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask(secret))
    return text
