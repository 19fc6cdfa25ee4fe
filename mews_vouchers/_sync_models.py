"""The models of sync: the desired state, the plan, the result, and the plan's file format.

A plan is a snapshot: it holds each target as it was read when planning (its
``UpdatedUtc`` included), so that applying it later, from a file, needs nothing else
and can tell a voucher changed since (stale) from one that is as planned.

The file is JSON Lines, after ``terraform show -json``: a header line naming the format,
its version and the scope, then one action a line (``add``, ``update``, ``delete``,
``code_add``, ``code_delete``, and the ``unmanaged`` and ``conflict`` vouchers that
are reported, never written), each with the ``before`` it was planned against and the
``after`` it writes.  Models travel in the API's wire form, through the one converter.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

import attrs
import orjson

from ._converter import encode, structure, unstructure
from ._errors import ChunkFailure, MewsValidationError
from ._models import (
    UNSET,
    Voucher,
    VoucherCode,
    VoucherCodeParameters,
    VoucherParameters,
    VoucherUpdate,
)

__all__ = [
    "PLAN_FORMAT",
    "PLAN_FORMAT_VERSION",
    "DesiredVoucher",
    "StaleAction",
    "SyncPlan",
    "SyncResult",
]

PLAN_FORMAT: Final = "mews-vouchers/sync-plan"
PLAN_FORMAT_VERSION: Final = 1

SyncAction: TypeAlias = Literal["add", "update", "delete", "code_add", "code_delete"]

# The fields an update may set, in the order they are shown.
UPDATE_FIELDS: Final = tuple(
    field.name for field in attrs.fields(VoucherUpdate) if field.name != "voucher_id"
)


def _codes(value: Collection[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise MewsValidationError([("codes", "expected a collection of code values, not a string")])
    if not isinstance(value, Iterable):
        raise MewsValidationError(
            [("codes", f"expected a collection of code values, got {type(value).__name__}")]
        )
    if isinstance(value, set | frozenset):
        # A set has no order of its own: sorted, the plan is the same from run to run.
        try:
            return tuple(sorted(value))
        except TypeError:
            pass  # not all strings: validation will say which
    return tuple(value)


@attrs.frozen(kw_only=True)
class DesiredVoucher:
    """One voucher as it should be, with the codes it should have.

    ``codes`` None: the voucher's codes are not managed.  A collection (even empty):
    these active code values must exist; missing ones are added and, with
    ``delete_missing``, the voucher's other active codes are deleted.
    """

    params: VoucherParameters
    codes: tuple[str, ...] | None = attrs.field(default=None, converter=_codes)


@attrs.frozen(kw_only=True)
class StaleAction:
    """A planned action that apply skipped, because Mews changed since planning.

    ``item`` is the plan's own entry (a DesiredVoucher, VoucherUpdate, Voucher or
    VoucherCodeParameters); ``reason`` says what changed.
    """

    action: SyncAction
    item: Any
    reason: str


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@attrs.frozen(kw_only=True)
class SyncPlan:
    """What a sync would write to make Mews match the desired state, and what it leaves alone.

    ``adds`` (with their codes), ``updates`` (only the fields that differ), ``deletes``,
    ``code_adds`` (for vouchers that exist) and ``code_deletes`` are written by
    ``apply_sync``; ``unmanaged`` (no external identifier) and ``conflicts`` (an
    identifier held by more than one active voucher) are reported and never touched.
    ``before`` holds each voucher to update as it was read, and ``before_rate_ids``
    its rates where the plan changes them: the snapshot that apply checks against.
    """

    enterprise_id: uuid.UUID | None
    service_ids: tuple[uuid.UUID, ...]
    adds: list[DesiredVoucher] = attrs.field(factory=list)
    updates: list[VoucherUpdate] = attrs.field(factory=list)
    deletes: list[Voucher] = attrs.field(factory=list)
    code_adds: list[VoucherCodeParameters] = attrs.field(factory=list)
    code_deletes: list[VoucherCode] = attrs.field(factory=list)
    unmanaged: list[Voucher] = attrs.field(factory=list)
    conflicts: list[Voucher] = attrs.field(factory=list)
    unchanged: int = 0
    before: dict[uuid.UUID, Voucher] = attrs.field(factory=dict)
    before_rate_ids: dict[uuid.UUID, tuple[uuid.UUID, ...]] = attrs.field(factory=dict)
    delete_missing: bool = False
    owned_prefix: str | None = None

    @property
    def is_empty(self) -> bool:
        """Return whether applying the plan would write nothing."""
        return not (
            self.adds or self.updates or self.deletes or self.code_adds or self.code_deletes
        )

    @property
    def write_count(self) -> int:
        """Return the number of items apply would write (codes of new vouchers included)."""
        new_codes = sum(len(d.codes or ()) for d in self.adds)
        return (
            len(self.adds)
            + new_codes
            + len(self.updates)
            + len(self.deletes)
            + len(self.code_adds)
            + len(self.code_deletes)
        )

    def summary(self) -> str:
        """Return the plan in one line of text."""
        new_codes = sum(len(d.codes or ()) for d in self.adds)
        parts = [
            f"{len(self.adds):,} to add",
            f"{len(self.updates):,} to update",
            f"{len(self.deletes):,} to delete",
            f"{self.unchanged:,} unchanged",
            f"codes: {len(self.code_adds) + new_codes:,} to add, "
            f"{len(self.code_deletes):,} to delete",
        ]
        if self.unmanaged:
            parts.append(f"{_count(len(self.unmanaged), 'unmanaged voucher')} left alone")
        if self.conflicts:
            keys = {(v.service_id, v.external_identifier) for v in self.conflicts}
            parts.append(f"{_count(len(keys), 'conflicting identifier')} left alone")
        return "Plan: " + "; ".join(parts) + "."

    def field_changes(self, update: VoucherUpdate) -> list[tuple[str, Any, Any]]:
        """Return ``(field, before, after)`` for each field *update* sets, as planned."""
        voucher = self.before.get(update.voucher_id)
        changes = []
        for name in UPDATE_FIELDS:
            after = getattr(update, name)
            if after is UNSET:
                continue
            if name == "assigned_rate_ids":
                before: Any = self.before_rate_ids.get(update.voucher_id)
            else:
                before = None if voucher is None else getattr(voucher, name)
            changes.append((name, before, after))
        return changes

    def to_jsonl(self, path: str | Path) -> None:
        """Save the plan as JSON Lines: a header, then one action a line."""
        with open(path, "wb") as out:
            for line in plan_lines(self):
                out.write(encode(line))
                out.write(b"\n")

    @classmethod
    def from_jsonl(cls, path: str | Path) -> SyncPlan:
        """Load a plan saved by :meth:`to_jsonl`; a file that is not one is refused."""
        return read_plan(Path(path))


@attrs.frozen(kw_only=True)
class SyncResult:
    """What ``apply_sync`` did: the vouchers and codes written, what it skipped, what failed.

    ``failures`` are :class:`ChunkFailure` s whose ``items`` are the plan's own entries
    (a DesiredVoucher, VoucherUpdate, Voucher, VoucherCodeParameters or VoucherCode, so
    their type says which action failed) and whose ``indices`` are their positions in
    the plan's list of that action; codes of vouchers the sync created are not in the
    plan, and are numbered after ``plan.code_adds``.
    """

    added: list[Voucher] = attrs.field(factory=list)
    updated: list[Voucher] = attrs.field(factory=list)
    deleted: list[uuid.UUID] = attrs.field(factory=list)
    codes_added: list[VoucherCode] = attrs.field(factory=list)
    codes_deleted: list[uuid.UUID] = attrs.field(factory=list)
    stale: list[StaleAction] = attrs.field(factory=list)
    failures: list[ChunkFailure[Any]] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        """Return whether nothing failed (stale actions are skipped, not failed)."""
        return not self.failures

    def summary(self) -> str:
        """Return the result in one line of text."""
        text = (
            f"Added {len(self.added):,}, updated {len(self.updated):,}, deleted "
            f"{len(self.deleted):,} vouchers; added {len(self.codes_added):,} and deleted "
            f"{len(self.codes_deleted):,} codes"
        )
        if self.stale:
            text += f"; skipped {len(self.stale):,} stale"
        if self.failures:
            failed = sum(len(f.indices) for f in self.failures)
            text += f"; {failed:,} failed"
        return text + "."


# --- the file format ---------------------------------------------------------------------


def _key(service_id: uuid.UUID, external_identifier: str | None) -> dict[str, Any]:
    return {"ServiceId": service_id, "ExternalIdentifier": external_identifier}


def plan_lines(plan: SyncPlan) -> Iterable[dict[str, Any]]:
    """Yield the lines of a plan's file, header first, as wire data for the encoder."""
    yield {
        "Format": PLAN_FORMAT,
        "FormatVersion": PLAN_FORMAT_VERSION,
        "CreatedUtc": datetime.now(UTC),
        "EnterpriseId": plan.enterprise_id,
        "ServiceIds": list(plan.service_ids),
        "DeleteMissing": plan.delete_missing,
        "OwnedPrefix": plan.owned_prefix,
        "Unchanged": plan.unchanged,
    }
    for desired in plan.adds:
        p = desired.params
        yield {
            "Action": "add",
            "Key": _key(p.service_id, p.external_identifier),
            "After": unstructure(p),
            "Codes": None if desired.codes is None else list(desired.codes),
        }
    for update in plan.updates:
        before = plan.before[update.voucher_id]
        rates = plan.before_rate_ids.get(update.voucher_id)
        yield {
            "Action": "update",
            "Key": _key(before.service_id, before.external_identifier),
            "Before": unstructure(before),
            "BeforeRateIds": None if rates is None else list(rates),
            "After": unstructure(update),
        }
    for voucher in plan.deletes:
        yield {
            "Action": "delete",
            "Key": _key(voucher.service_id, voucher.external_identifier),
            "Before": unstructure(voucher),
        }
    for code in plan.code_adds:
        yield {"Action": "code_add", "After": unstructure(code)}
    for old in plan.code_deletes:
        yield {"Action": "code_delete", "Before": unstructure(old)}
    for voucher in plan.unmanaged:
        yield {"Action": "unmanaged", "Before": unstructure(voucher)}
    for voucher in plan.conflicts:
        yield {
            "Action": "conflict",
            "Key": _key(voucher.service_id, voucher.external_identifier),
            "Before": unstructure(voucher),
        }


class _Reader:
    """Builds a plan from its lines; every problem names the file and line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.fields: dict[str, Any] = {}
        self.lists: dict[str, Any] = {
            name: []
            for name in (
                "adds",
                "updates",
                "deletes",
                "code_adds",
                "code_deletes",
                "unmanaged",
                "conflicts",
            )
        }
        self.before: dict[uuid.UUID, Voucher] = {}
        self.before_rate_ids: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}

    def header(self, line: dict[str, Any]) -> None:
        if line.get("Format") != PLAN_FORMAT:
            raise ValueError(f"not a sync plan (expected Format {PLAN_FORMAT!r})")
        version = line.get("FormatVersion")
        if version != PLAN_FORMAT_VERSION:
            raise ValueError(
                f"plan format version {version!r} is not supported "
                f"(this release reads version {PLAN_FORMAT_VERSION})"
            )
        enterprise = line.get("EnterpriseId")
        self.fields = {
            "enterprise_id": None if enterprise is None else structure(enterprise, uuid.UUID),
            "service_ids": tuple(structure(s, uuid.UUID) for s in line["ServiceIds"]),
            "delete_missing": bool(line.get("DeleteMissing", False)),
            "owned_prefix": line.get("OwnedPrefix"),
            "unchanged": int(line.get("Unchanged", 0)),
        }

    def action(self, line: dict[str, Any]) -> None:
        kind = line.get("Action")
        if kind == "add":
            codes = line.get("Codes")
            self.lists["adds"].append(
                DesiredVoucher(params=structure(line["After"], VoucherParameters), codes=codes)
            )
        elif kind == "update":
            update = structure(line["After"], VoucherUpdate)
            self.before[update.voucher_id] = structure(line["Before"], Voucher)
            rates = line.get("BeforeRateIds")
            if rates is not None:
                self.before_rate_ids[update.voucher_id] = tuple(
                    structure(r, uuid.UUID) for r in rates
                )
            self.lists["updates"].append(update)
        elif kind == "delete":
            self.lists["deletes"].append(structure(line["Before"], Voucher))
        elif kind == "code_add":
            self.lists["code_adds"].append(structure(line["After"], VoucherCodeParameters))
        elif kind == "code_delete":
            self.lists["code_deletes"].append(structure(line["Before"], VoucherCode))
        elif kind == "unmanaged":
            self.lists["unmanaged"].append(structure(line["Before"], Voucher))
        elif kind == "conflict":
            self.lists["conflicts"].append(structure(line["Before"], Voucher))
        else:
            raise ValueError(f"unknown action {kind!r}")

    def plan(self) -> SyncPlan:
        return SyncPlan(
            **self.fields,
            **self.lists,
            before=self.before,
            before_rate_ids=self.before_rate_ids,
        )


def read_plan(path: Path) -> SyncPlan:
    """Read a plan file, raising MewsValidationError naming the line of any problem."""
    source = str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise MewsValidationError([(source, f"cannot read the plan: {exc}")]) from exc
    reader = _Reader(source)
    number = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
            if not isinstance(line, dict):
                raise ValueError("expected a JSON object")
            if reader.fields:
                reader.action(line)
            else:
                reader.header(line)
        except MewsValidationError as exc:
            problems = [(f"{source}:{number}: {path_}", message) for path_, message in exc.errors]
            raise MewsValidationError(problems) from exc
        except Exception as exc:
            # orjson's, cattrs' and the models' complaints, whatever their class: the line
            # is not what to_jsonl wrote, and the caller gets one MewsValidationError.
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise MewsValidationError([(f"{source}:{number}", what)]) from exc
    if not reader.fields:
        raise MewsValidationError([(source, "empty file: not a sync plan")])
    return reader.plan()
