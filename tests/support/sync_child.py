"""A sync job run as its own process by test_sync_crash.py, which kills it mid-apply.

It syncs the desired state that ``desired_state`` describes (the test checks against the
same function) to the simulator named by the MEWS_* variables, then exits 0, or 1 when
the sync raised.
"""

from __future__ import annotations

import os
import sys
import uuid

import anyio

from mews_vouchers import DesiredVoucher, MewsClient, MewsError, RetryPolicy, VoucherParameters

OWNED = "own-"
DESIRED = 80


def desired_state(service_id: uuid.UUID) -> list[DesiredVoucher]:
    """own-0 .. own-79, renamed, with two codes each."""
    return [
        DesiredVoucher(
            params=VoucherParameters(
                service_id=service_id,
                name=f"Gift {i} v2",
                type="Public",
                external_identifier=f"{OWNED}{i}",
            ),
            codes=[f"{OWNED}{i}-A", f"{OWNED}{i}-B"],
        )
        for i in range(DESIRED)
    ]


async def main() -> int:
    service_id = uuid.UUID(os.environ["SERVICE_ID"])
    client = MewsClient.from_env(
        rate_limit=None,
        retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.05),
        chunk_size=5,
        max_concurrency=2,
        timeout=10.0,
    )
    async with client:
        try:
            result = await client.vouchers.sync(
                desired_state(service_id),
                enterprise_id=os.environ["ENTERPRISE_ID"],
                delete_missing=True,
                owned_prefix=OWNED,
            )
        except MewsError as exc:
            print(f"sync failed: {exc}", file=sys.stderr)
            return 1
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
