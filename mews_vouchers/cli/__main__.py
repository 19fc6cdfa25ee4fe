"""Run the command line as ``python -m mews_vouchers.cli``."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
