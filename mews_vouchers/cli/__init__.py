"""The ``mews-vouchers`` command line: a bulk demo, list, add, update, delete, a simulator.

It needs the ``cli`` extra (``pip install 'mews-vouchers[cli]'``), which brings rich for
progress bars and tables.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mews-vouchers`` with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    try:
        from ._main import main as run
    except ModuleNotFoundError as exc:
        if exc.name != "rich" and not (exc.name or "").startswith("rich."):
            raise
        print(
            "mews-vouchers: error: the command line needs rich: pip install 'mews-vouchers[cli]'",
            file=sys.stderr,
        )
        return 2
    return run(argv)
