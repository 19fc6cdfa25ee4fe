"""The ``sync`` and ``apply`` commands: make Mews match a file, plan first, write on request.

``sync FILE`` reads an ``add`` input file (JSONL or CSV) with an optional ``Codes``
column, plans, prints the plan (a summary table and the first changes, field by field)
and writes only with ``--apply``; ``--plan-out`` saves the plan for ``apply PLAN.jsonl``,
which takes no other option since a plan carries its enterprise and snapshot.

Codes: in JSONL a list of values, absent or null when the voucher's codes are not
managed; in CSV the values separated by ``;``.  When a CSV file has a Codes column,
every row manages its codes, so an empty cell means "no codes" (they are deleted only
with ``--delete-missing``, and count against ``--max-deletes``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from .._errors import MewsValidationError, SyncError
from .._sync import check_desired, check_options
from .._sync_models import DesiredVoucher, SyncPlan, SyncResult
from .._validation import Errors
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    Ui,
    count,
    error,
    make_client,
)
from ._io import (
    LIST_SEPARATOR,
    Format,
    InputError,
    InputFile,
    Problem,
    Record,
    UsageError,
    format_of,
)
from ._records import display, normal_key, voucher_parameters
from ._report import PlanCounts

CHANGES_SHOWN: Final = 20
"""How many changes ``sync`` prints field by field before it only counts them."""

_CODES_KEY: Final = "codes"
_PATH: Final = re.compile(r"^desired\[(\d+)\](?:\.(.*))?$")

SYNC_DESCRIPTION: Final = """\
Make Mews match FILE: plan, print the plan, and write it only with --apply.

FILE is an add input file (JSONL or CSV, as for add) whose vouchers all have an
ExternalIdentifier: the key of a voucher is its ServiceId and ExternalIdentifier.
An optional Codes column gives the codes each voucher must have: a list in JSONL
(absent or null: codes not managed), values separated by ';' in CSV (with the
column present, an empty cell means no codes).

Vouchers without an identifier, and identifiers held by two vouchers, are reported
and never touched. --delete-missing also deletes the vouchers (and codes) in scope
that FILE does not name, but only those whose identifier starts with --owned-prefix;
--max-deletes refuses a plan that deletes more, before anything is written.
"""

APPLY_DESCRIPTION: Final = """\
Apply a plan saved by sync --plan-out. The plan carries its enterprise and each
voucher as it was when planned: a voucher changed since is skipped (stale), never
overwritten. Run sync again to plan afresh.
"""


# --- reading the desired state -------------------------------------------------------------


class _DesiredInput(InputFile):
    """An add input file whose optional Codes column is read aside, record by record.

    ``codes`` holds, for each record read in order, its code values (``None``: codes not
    managed); ``code_problems`` the records whose Codes could not be read.
    """

    def __init__(self, path: str, fmt: Format) -> None:
        super().__init__(path, fmt, copy=False)
        self.codes: list[list[str] | None] = []
        self.code_problems: list[Problem] = []
        self._has_column = self.header is not None and any(
            normal_key(k) == _CODES_KEY for k in self.header
        )

    def records(self) -> Iterator[Record | Problem]:
        for record in super().records():
            if isinstance(record, Record):
                self.codes.append(self._codes_of(record))
            yield record

    def _codes_of(self, record: Record) -> list[str] | None:
        raw = next((v for k, v in record.values.items() if normal_key(k) == _CODES_KEY), None)
        if self.format == "csv":
            if not self._has_column:
                return None
            text = raw if isinstance(raw, str) else ""
            return [part for part in (p.strip() for p in text.split(LIST_SEPARATOR)) if part]
        if raw is None or (isinstance(raw, list) and all(isinstance(c, str) for c in raw)):
            return raw
        self.code_problems.append(
            Problem(record.line, "Codes: expected a list of code values or null")
        )
        return None


def _place(errors: Errors, lines: Sequence[int]) -> list[Problem]:
    problems = []
    for path, message in errors:
        match = _PATH.match(path)
        if match is None:
            problems.append(Problem(0, f"{path}: {message}"))
            continue
        line = lines[int(match[1])]
        message = re.sub(
            r"desired\[(\d+)\](\.[\w\[\]]+)?",
            lambda m: f"line {lines[int(m[1])]}",
            message,
        )
        problems.append(Problem(line, f"{display(match[2])}: {message}" if match[2] else message))
    return problems


def read_desired(args: argparse.Namespace) -> list[DesiredVoucher]:
    """Read FILE into desired vouchers, or raise InputError naming the line of each problem."""
    errors: Errors = []
    options = check_options(
        enterprise_id=args.enterprise_id,
        service_ids=args.service_id,
        delete_missing=args.delete_missing,
        owned_prefix=args.owned_prefix,
        max_deletes=args.max_deletes,
        errors=errors,
    )
    if errors:
        raise MewsValidationError(errors)
    source = _DesiredInput(args.file, format_of(args.file, args.input_format))
    with source:
        try:
            parsed = voucher_parameters(
                source,
                also=frozenset({_CODES_KEY}),
                unique=False,  # check_desired names a repeat, with the codes' problems
            )
        except InputError as exc:
            raise InputError(source.source, [*exc.problems, *source.code_problems]) from None
        problems = list(source.code_problems)
        items = []
        for p, values in zip(parsed.items, source.codes, strict=True):
            try:
                items.append(DesiredVoucher(params=p, codes=values))
            except MewsValidationError:
                items.append(DesiredVoucher(params=p))  # reported by check_desired below
        check_desired(items, options, errors)
        problems += _place(errors, parsed.lines)
        if problems:
            raise InputError(source.source, problems)
    return items


# --- showing a plan ------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _summary_table(plan: SyncPlan) -> Table:
    counts = PlanCounts.of(plan)
    table = Table(title="Sync plan")
    table.add_column("", no_wrap=True)
    table.add_column("vouchers", justify="right")
    table.add_column("codes", justify="right")
    for label, vouchers, codes in (
        ("to add", counts.adds, counts.code_adds),
        ("to update", counts.updates, None),
        ("to delete", counts.deletes, counts.code_deletes),
        ("unchanged", counts.unchanged, None),
        ("unmanaged (left alone)", counts.unmanaged, None),
        ("conflicts (left alone)", counts.conflicts, None),
    ):
        table.add_row(label, f"{vouchers:,}", "" if codes is None else f"{codes:,}")
    return table


def change_lines(plan: SyncPlan, limit: int = CHANGES_SHOWN) -> list[str]:
    """Return the plan's first *limit* changes, one a line, fields as ``before -> after``."""
    lines: list[str] = []
    for d in plan.adds:
        p = d.params
        fields = f"Name {_show(p.name)}, Type {p.type.value}"
        codes = "" if d.codes is None else f", Codes {_show(list(d.codes))}"
        lines.append(f"+ add    {p.external_identifier}: {fields}{codes}")
    for update in plan.updates:
        before = plan.before[update.voucher_id]
        fields = "; ".join(
            f"{display(name)}: {_show(old)} -> {_show(new)}"
            for name, old, new in plan.field_changes(update)
        )
        lines.append(f"~ update {before.external_identifier}: {fields}")
    lines += [f"- delete {v.external_identifier} (voucher {v.id})" for v in plan.deletes]
    lines += [f"+ code   {_show(c.value)} on voucher {c.voucher_id}" for c in plan.code_adds]
    lines += [f"- code   {_show(c.value)} on voucher {c.voucher_id}" for c in plan.code_deletes]
    if len(lines) > limit:
        more = len(lines) - limit
        lines = [*lines[:limit], f"... and {count(more, 'more change')}"]
    return lines


def print_plan(plan: SyncPlan) -> None:
    """Print the summary table and the first changes on stdout."""
    console = Console()
    console.print(_summary_table(plan))
    for line in change_lines(plan):
        console.print(line, markup=False, highlight=False)


# --- applying ------------------------------------------------------------------------------


def _kind(item: Any) -> str:
    return type(item).__name__


async def _apply(args: argparse.Namespace, ui: Ui, plan: SyncPlan) -> int:
    if plan.is_empty:
        ui.status("Nothing to write: Mews matches the desired state.")
        return EXIT_OK
    client = make_client(args, chunk_size=args.chunk_size)
    started = time.perf_counter()
    async with client:
        with ui.bars() as bars:
            bar = bars.bar("Syncing", plan.write_count)
            try:
                result = await client.vouchers.apply_sync(plan, on_progress=bar)
            except SyncError as exc:
                result = exc.result
        stats = client.stats
    ui.status(
        f"{result.summary()} ({count(stats.requests, 'request')}, "
        f"{time.perf_counter() - started:.1f} s)"
    )
    return _report(result)


def _report(result: SyncResult) -> int:
    for stale in result.stale[:CHANGES_SHOWN]:
        print(f"{PROG}: skipped {stale.action} (stale): {stale.reason}", file=sys.stderr)
    for failure in result.failures:
        outcome = "AMBIGUOUS: may have been applied" if failure.ambiguous else "NOT applied"
        kinds = sorted({_kind(item) for item in failure.items})
        print(
            f"{PROG}: {count(len(failure.items), 'item')} ({', '.join(kinds)}) failed "
            f"({outcome}): {failure.error}",
            file=sys.stderr,
        )
    if result.failures or result.stale:
        error("the desired state is not reached yet; run sync again to do what is left")
        return EXIT_FAILED
    return EXIT_OK


async def sync_command(args: argparse.Namespace, ui: Ui) -> int:
    """Plan a sync of FILE, print it, save it with --plan-out, write it with --apply."""
    if args.delete_missing and args.owned_prefix is None:
        raise UsageError(
            "--delete-missing needs --owned-prefix P: only identifiers starting with P are "
            "deleted (--owned-prefix '' owns every identified voucher in scope)"
        )
    items = read_desired(args)
    client = make_client(args, chunk_size=args.chunk_size)
    async with client:
        try:
            plan = await client.vouchers.plan_sync(
                items,
                enterprise_id=args.enterprise_id,
                service_ids=args.service_id,
                delete_missing=args.delete_missing,
                owned_prefix=args.owned_prefix,
                max_deletes=args.max_deletes,
            )
        except SyncError as exc:
            if exc.plan is not None:
                print_plan(exc.plan)
            raise
    print_plan(plan)
    if args.plan_out:
        plan.to_jsonl(args.plan_out)
        ui.status(f"Saved the plan to {args.plan_out}.")
    if not args.apply:
        if plan.is_empty:
            ui.status("Nothing to write: Mews matches the desired state.")
        else:
            ui.status("Nothing was written; add --apply to write this plan.")
        return EXIT_OK
    return await _apply(args, ui, plan)


async def apply_command(args: argparse.Namespace, ui: Ui) -> int:
    """Apply a plan saved by ``sync --plan-out``."""
    plan = SyncPlan.from_jsonl(args.plan)
    print_plan(plan)
    return await _apply(args, ui, plan)
