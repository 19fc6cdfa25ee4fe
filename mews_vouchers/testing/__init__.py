"""A faithful, in-memory Mews voucher API for tests, demos and benchmarks.

>>> async with MewsSimulator() as sim:                     # doctest: +SKIP
...     hotel = sim.add_hotel("Hotel A")  # an enterprise, a service, two rates, a company
...     # point a client at sim.base_url with sim.client_token and sim.access_token

It validates requests as the API documents them, pages with cursors, answers
errors with the documented status and body, enforces a request limit with 429
and ``Retry-After``, and can inject latency and faults.  It shares no code with
the SDK beyond the limits in ``mews_vouchers._constants``: it is the reference
the SDK is tested against.  ``python -m mews_vouchers.testing`` runs it
standalone.
"""

from __future__ import annotations

from ._faults import Fault
from ._simulator import Hotel, MewsSimulator, RecordedRequest

__all__ = ["Fault", "Hotel", "MewsSimulator", "RecordedRequest"]
