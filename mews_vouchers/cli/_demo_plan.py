"""What the demo writes: the templates, each hotel's vouchers, codes and desired state.

Each template line holds ``Name``, ``Type``, ``Code`` (the stem of the voucher codes),
``Rates`` (how many of the hotel's rates to assign) and optionally an occupiable
interval.  Voucher *i* of hotel *h* is built from template ``(i + h) % len(templates)``,
with the external identifier ``demo-h<h>-<i>``: that identifier is what makes an add
whose outcome is unknown resolvable, so every voucher ends up existing exactly once.

The desired state that the sync step makes real is what the earlier steps left, with a
few changes in every ``SYNC_EVERY`` vouchers; the final check compares the simulator's
state with it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Final

import attrs
import orjson

from .. import DesiredVoucher, Voucher, VoucherParameters, VoucherType

if TYPE_CHECKING:
    # Loaded when the demo runs: the other commands start faster without the simulator.
    from ..testing import Hotel, MewsSimulator

# Every RENAME_EVERY-th voucher is renamed and every DELETE_EVERY-th (offset, so the two
# slices never meet) deleted: 10% and 5%.
RENAME_EVERY: Final = 10
DELETE_EVERY: Final = 20
DELETE_OFFSET: Final = RENAME_EVERY // 2
RENAMED_SUFFIX: Final = " (renewed)"
# Of every SYNC_EVERY vouchers, the sync renames one, sets another's rates, gives a third
# a new code in place of its own and deletes a fourth; it adds SYNC_EVERY-th as many new
# ones.  The four slices meet neither the renamed nor the deleted ones.
SYNC_EVERY: Final = 100
SYNC_RENAME, SYNC_RATES, SYNC_CODE, SYNC_DROP = 1, 3, 7, 9
SYNCED_SUFFIX: Final = " (synced)"
NEW_CODE_SUFFIX: Final = "N"
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
    """The vouchers the first step adds."""
    later: list[VoucherParameters]
    """The vouchers that only the desired state of the sync holds."""
    templates: list[Template]
    vouchers: list[Voucher | None] = attrs.field(factory=list)
    failed: list[str] = attrs.field(factory=list)

    @classmethod
    def plan(
        cls, number: int, hotel: Hotel, templates: Sequence[Template], count: int
    ) -> HotelState:
        """Expand the templates into *count* vouchers for *hotel*, the same every run."""
        chosen = [
            templates[(i + number) % len(templates)] for i in range(count + count // SYNC_EVERY)
        ]
        params = [
            VoucherParameters(
                service_id=hotel.service_id,
                name=f"{t.name} #{i + 1}",
                type=t.type,
                company_id=None if t.type is VoucherType.PUBLIC else hotel.company_id,
                assigned_rate_ids=hotel.rate_ids[: t.rates] or None,
                occupiable_interval_start_utc=t.start,
                occupiable_interval_end_utc=t.end,
                external_identifier=f"{cls.prefix_of(number)}{i + 1:06d}",
            )
            for i, t in enumerate(chosen)
        ]
        return cls(
            number=number,
            hotel=hotel,
            params=params[:count],
            later=params[count:],
            templates=chosen,
        )

    @staticmethod
    def prefix_of(number: int) -> str:
        """Return the prefix of the external identifiers of hotel *number*: what it owns."""
        return f"demo-h{number}-"

    def picked(self, every: int, offset: int) -> list[Voucher]:
        """Return the vouchers added whose position is *offset* modulo *every*."""
        return [v for i, v in enumerate(self.vouchers) if v is not None and i % every == offset]

    def code_value(self, i: int) -> str:
        """Return the code of voucher *i*: unique in the hotel, as the API requires."""
        return f"{self.templates[i].code}-{self.number}{i + 1:06d}"

    def desired(self) -> list[DesiredVoucher]:
        """Return what the hotel should hold once synced, each voucher with its one code."""
        wanted = []
        for i, p in enumerate(self.params):
            slot = i % SYNC_EVERY
            if i % DELETE_EVERY == DELETE_OFFSET or slot == SYNC_DROP:
                continue
            name = p.name + RENAMED_SUFFIX if i % RENAME_EVERY == 0 else p.name
            rates = p.assigned_rate_ids
            if slot == SYNC_RATES:
                # All of the hotel's rates, or only the first if it had them all: a change.
                all_rates = len(rates or ()) == len(self.hotel.rate_ids)
                rates = self.hotel.rate_ids[:1] if all_rates else self.hotel.rate_ids
            code = self.code_value(i) + (NEW_CODE_SUFFIX if slot == SYNC_CODE else "")
            wanted.append(
                DesiredVoucher(
                    params=attrs.evolve(
                        p,
                        name=name + SYNCED_SUFFIX if slot == SYNC_RENAME else name,
                        assigned_rate_ids=rates,
                    ),
                    codes=[code],
                )
            )
        start = len(self.params)
        wanted += [
            DesiredVoucher(params=p, codes=[self.code_value(start + j)])
            for j, p in enumerate(self.later)
        ]
        return wanted


def spread(total: int, parts: int) -> list[int]:
    """Split *total* into *parts* counts that differ by one at most."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def verify(sim: MewsSimulator, states: Iterable[HotelState]) -> list[str]:
    """Check that the simulator holds each hotel's desired state; return what is wrong."""
    rates: defaultdict[str, set[str]] = defaultdict(set)
    for assignment in sim.assignments():
        rates[assignment["VoucherId"]].add(assignment["RateId"])
    problems = []
    for state in states:
        number = state.number
        stored = sim.vouchers(state.hotel.enterprise_id)
        # Deleted vouchers count too: an identifier is never used for a second voucher.
        by_external = Counter(v["ExternalIdentifier"] for v in stored)
        repeated = [e for e, n in by_external.items() if n > 1]
        if repeated:
            problems.append(
                f"hotel {number}: {len(repeated)} external identifiers exist more than once, "
                f"e.g. {repeated[0]}"
            )
        codes: defaultdict[str, set[str]] = defaultdict(set)
        for code in sim.voucher_codes(state.hotel.enterprise_id, include_deleted=False):
            codes[code["VoucherId"]].add(code["Value"])
        active = {v["ExternalIdentifier"]: v for v in stored if v["IsActive"]}
        wanted = {d.params.external_identifier: d for d in state.desired()}
        missing, unexpected = wanted.keys() - active.keys(), active.keys() - wanted.keys()
        if missing or unexpected:
            problems.append(
                f"hotel {number}: {len(missing)} vouchers missing, {len(unexpected)} unexpected"
            )
        differ: Counter[str] = Counter()
        for key, d in wanted.items():
            voucher = active.get(key)
            if voucher is not None:
                differ["names"] += voucher["Name"] != d.params.name
                differ["rates"] += rates[voucher["Id"]] != set(
                    map(str, d.params.assigned_rate_ids or ())
                )
                differ["codes"] += codes[voucher["Id"]] != set(d.codes or ())
        problems += [
            f"hotel {number}: {n} vouchers' {what} differ" for what, n in differ.items() if n
        ]
    return problems
