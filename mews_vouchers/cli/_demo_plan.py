"""What the demo writes: the templates, each hotel's vouchers and codes, and the check.

Each template line holds ``Name``, ``Type``, ``Code`` (the stem of the voucher codes),
``Rates`` (how many of the hotel's rates to assign) and optionally an occupiable
interval.  Voucher *i* of hotel *h* is built from template ``(i + h) % len(templates)``,
with the external identifier ``demo-h<h>-<i>``: that identifier is what makes an add
whose outcome is unknown resolvable, so every voucher ends up existing exactly once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Final

import attrs
import orjson

from .. import Voucher, VoucherParameters, VoucherType

if TYPE_CHECKING:
    # Loaded when the demo runs: the other commands start faster without the simulator.
    from ..testing import Hotel, MewsSimulator

# Every RENAME_EVERY-th voucher is renamed and every DELETE_EVERY-th (offset, so the two
# slices never meet) deleted: 10% and 5%.
RENAME_EVERY: Final = 10
DELETE_EVERY: Final = 20
DELETE_OFFSET: Final = RENAME_EVERY // 2
RENAMED_SUFFIX: Final = " (renewed)"
SAMPLE: Final = "sample_vouchers.jsonl"


@attrs.frozen(kw_only=True)
class Template:
    """One voucher template of the sample file."""

    name: str
    type: VoucherType
    code: str
    rates: int = 0
    start: str | None = None
    end: str | None = None


def load_templates() -> list[Template]:
    """Read the voucher templates shipped in the package."""
    text = resources.files(__package__).joinpath("data", SAMPLE).read_text(encoding="utf-8")
    templates = []
    for line in text.splitlines():
        if line.strip():
            raw = orjson.loads(line)
            templates.append(
                Template(
                    name=raw["Name"],
                    type=VoucherType(raw["Type"]),
                    code=raw["Code"],
                    rates=raw.get("Rates", 0),
                    start=raw.get("OccupiableIntervalStartUtc"),
                    end=raw.get("OccupiableIntervalEndUtc"),
                )
            )
    return templates


@attrs.define
class HotelState:
    """One seeded hotel (numbered from 1), its planned vouchers, and what the run did."""

    number: int
    hotel: Hotel
    params: list[VoucherParameters]
    templates: list[Template]
    vouchers: list[Voucher | None] = attrs.field(factory=list)
    deleted: set[uuid.UUID] = attrs.field(factory=set)
    renamed: set[uuid.UUID] = attrs.field(factory=set)
    failed: list[str] = attrs.field(factory=list)

    @classmethod
    def plan(
        cls, number: int, hotel: Hotel, templates: Sequence[Template], count: int
    ) -> HotelState:
        """Expand the templates into *count* vouchers for *hotel*, the same every run."""
        chosen = [templates[(i + number) % len(templates)] for i in range(count)]
        params = [
            VoucherParameters(
                service_id=hotel.service_id,
                name=f"{t.name} #{i + 1}",
                type=t.type,
                company_id=None if t.type is VoucherType.PUBLIC else hotel.company_id,
                assigned_rate_ids=hotel.rate_ids[: t.rates] or None,
                occupiable_interval_start_utc=t.start,
                occupiable_interval_end_utc=t.end,
                external_identifier=f"demo-h{number}-{i + 1:06d}",
            )
            for i, t in enumerate(chosen)
        ]
        return cls(number=number, hotel=hotel, params=params, templates=chosen)

    def picked(self, every: int, offset: int) -> list[Voucher]:
        """Return the vouchers added whose position is *offset* modulo *every*."""
        return [v for i, v in enumerate(self.vouchers) if v is not None and i % every == offset]

    def code_value(self, i: int) -> str:
        """Return the code of voucher *i*: unique in the hotel, as the API requires."""
        return f"{self.templates[i].code}-{self.number}{i + 1:06d}"


def spread(total: int, parts: int) -> list[int]:
    """Split *total* into *parts* counts that differ by one at most."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def verify(sim: MewsSimulator, states: Iterable[HotelState]) -> list[str]:
    """Check the simulator's state against what the run did; return what is wrong."""
    problems = []
    for state in states:
        number = state.number
        stored = sim.vouchers(state.hotel.enterprise_id)
        by_external = Counter(v["ExternalIdentifier"] for v in stored)
        repeated = [e for e, n in by_external.items() if n > 1]
        if repeated:
            problems.append(
                f"hotel {number}: {len(repeated)} external identifiers exist more than once, "
                f"e.g. {repeated[0]}"
            )
        expected = {str(v.id) for v in state.vouchers if v is not None}
        stored_ids = {v["Id"] for v in stored}
        if stored_ids != expected:
            problems.append(
                f"hotel {number}: {len(stored_ids - expected)} unexpected and "
                f"{len(expected - stored_ids)} missing vouchers"
            )
        active = {v["Id"] for v in stored if v["IsActive"]}
        deleted = {str(i) for i in state.deleted}
        if active & deleted or (expected - deleted) - active:
            problems.append(f"hotel {number}: deletions do not match")
        names = {v["Id"]: v["Name"] for v in stored}
        if any(not names.get(str(i), "").endswith(RENAMED_SUFFIX) for i in state.renamed):
            problems.append(f"hotel {number}: renames do not match")
        codes = Counter(c["VoucherId"] for c in sim.voucher_codes(state.hotel.enterprise_id))
        if any(n > 1 for n in codes.values()):
            problems.append(f"hotel {number}: a voucher has more than one code")
    return problems
