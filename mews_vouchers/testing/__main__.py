"""Run the simulator standalone: ``python -m mews_vouchers.testing --port 8080``."""

from __future__ import annotations

import sys

from ._standalone import main

if __name__ == "__main__":
    sys.exit(main())
