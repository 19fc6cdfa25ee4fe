"""The commands that talk to the API: ``list``, ``add``, ``update`` and ``delete``.

The writes share one shape: read and validate the whole file, streamed (nothing is
sent if any line is wrong), send through the SDK with a progress bar, then report.
Items that fail are written back, exactly as they were read, to a failures file in the
input's format, so that running the same command on that file retries exactly them.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import attrs
from rich.console import Console
from rich.table import Table

from .._batching import plan_chunks
from .._client import MewsClient
from .._constants import DEFAULT_CHUNK_SIZE, VOUCHERS_ADD, VOUCHERS_DELETE, VOUCHERS_UPDATE
from .._errors import BulkOperationError, ChunkFailure
from .._models import ActivityState, Voucher, VoucherParameters
from ._app import EXIT_FAILED, EXIT_OK, PROG, Ui, error, make_client
from ._io import (
    STDIO,
    InputFile,
    UsageError,
    VoucherWriter,
    failures_path,
    format_of,
    open_output,
    output_format,
    write_records,
)
from ._records import Parsed, voucher_ids, voucher_parameters, voucher_updates

_ID_ARGUMENTS: Final = "--id"
_TABLE_COLUMNS: Final = ("Id", "Name", "Type", "Active", "ExternalIdentifier", "UpdatedUtc")


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


@attrs.define
class _Meter:
    """What one command cost: requests, retries and 429s, and the time it took."""

    client: MewsClient
    started: float = attrs.field(factory=time.perf_counter)

    def summary(self) -> str:
        stats = self.client.stats
        return (
            f"{_count(stats.requests, 'request')}, {_count(stats.retries, 'retry', 'retries')}, "
            f"{stats.rate_limited} rate-limited, {time.perf_counter() - self.started:.1f} s"
        )


# --- list ----------------------------------------------------------------------------------


def _list_format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    if args.output is not None:
        return output_format(args.output)
    return "table" if sys.stdout.isatty() else "jsonl"


async def list_command(args: argparse.Namespace, ui: Ui) -> int:
    """Stream vouchers to stdout or a file, page by page (memory stays bounded)."""
    fmt = _list_format(args)
    if fmt == "table" and args.output not in (None, STDIO):
        raise UsageError("--format table writes to the terminal; use jsonl or csv with -o")
    client = make_client(args, page_size=args.page_size)
    async with client:
        meter = _Meter(client)
        stream = client.vouchers.iter_all(
            service_ids=args.service_id,
            enterprise_ids=args.enterprise_id,
            activity_states=args.activity_state,
            voucher_ids=args.voucher_id,
            company_ids=args.company_id,
            external_identifiers=args.external_identifier,
        )
        with ui.bars() as bars:
            bar = bars.bar("Listing vouchers", None)
            if fmt == "table":
                # A table is laid out once every row is known: fine for a terminal's worth.
                rows: list[Voucher] = []
                async with stream:
                    async for voucher in stream:
                        rows.append(voucher)
                        bar(1)
            else:
                with open_output(args.output or STDIO) as out:
                    writer = VoucherWriter(out, "csv" if fmt == "csv" else "jsonl")
                    async with stream:
                        async for voucher in stream:
                            writer.write(voucher)
                            bar(1)
            bar.finish()
    if fmt == "table":
        Console().print(_voucher_table(rows))
    ui.status(f"Listed {_count(bar.count, 'voucher')} ({meter.summary()}).")
    return EXIT_OK


def _voucher_table(vouchers: Sequence[Voucher]) -> Table:
    table = Table()
    for column in _TABLE_COLUMNS:
        # Ids and times are read whole or not at all: the names wrap instead.
        table.add_column(column, no_wrap=column in ("Id", "UpdatedUtc"))
    for v in vouchers:
        table.add_row(
            str(v.id),
            v.name,
            v.type.value,
            "yes" if v.is_active else "no",
            v.external_identifier or "",
            v.updated_utc.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


# --- writes --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Write:
    """One write command: what it calls, and how it speaks of it."""

    command: str
    operation: str
    doing: str
    done: str
    noun: str = "voucher"


_ADD = _Write(command="add", operation=VOUCHERS_ADD, doing="Adding", done="Added")
_UPDATE = _Write(command="update", operation=VOUCHERS_UPDATE, doing="Updating", done="Updated")
_DELETE = _Write(command="delete", operation=VOUCHERS_DELETE, doing="Deleting", done="Deleted")

Send = Callable[..., Awaitable[Any]]
Parse = Callable[..., Parsed[Any]]


def _chunk_size(args: argparse.Namespace) -> int:
    return int(args.chunk_size or DEFAULT_CHUNK_SIZE)


def _print_plan(write: _Write, source: InputFile, count: int, chunk_size: int) -> None:
    sizes = Counter(len(chunk) for chunk in plan_chunks(count, chunk_size))
    shape = ", ".join(f"{n} of {_count(size, 'item')}" for size, n in sorted(sizes.items())[::-1])
    print(f"{source.source}: {_count(count, write.noun)} to {write.command}, all valid.")
    requests = sum(sizes.values())
    print(
        f"Would send {_count(requests, 'request')} to {write.operation}"
        + (f" ({shape})" if shape else "")
        + f", chunk size {chunk_size}; nothing was sent."
    )


async def _send(
    send: Send,
    items: list[Any],
    args: argparse.Namespace,
    ui: Ui,
    label: str,
) -> tuple[list[Any], list[ChunkFailure[Any]]]:
    """Send *items*; return the results aligned with them (None: failed) and the failures."""
    with ui.bars() as bars:
        bar = bars.bar(label, len(items))
        try:
            results = await send(items, enterprise_id=args.enterprise_id, on_progress=bar)
        except BulkOperationError as exc:
            return exc.results, exc.failures
    return (list(results) if results is not None else list(items)), []


def _span(source: InputFile, parsed: Parsed[Any], positions: Sequence[int]) -> str:
    lines = [parsed.lines[p] for p in positions]
    unit = "--id argument" if source.source == _ID_ARGUMENTS else "line"
    low, high = min(lines), max(lines)
    return f"{unit} {low}" if low == high else f"{unit}s {low}-{high}"


def _report_failures(
    write: _Write,
    args: argparse.Namespace,
    source: InputFile,
    parsed: Parsed[Any],
    positions: Sequence[int],
    failures: Sequence[ChunkFailure[Any]],
) -> None:
    """Say what failed, chunk by chunk, and write the failed items to the failures file."""
    failed: list[int] = []
    ambiguous = 0
    for failure in failures:
        where = [positions[i] for i in failure.indices]
        failed += where
        outcome = "NOT applied"
        if failure.ambiguous:
            ambiguous += len(where)
            outcome = "AMBIGUOUS: they may have been applied"
        print(
            f"{PROG}: {write.operation}: {_count(len(where), 'item')} at "
            f"{_span(source, parsed, where)} failed ({outcome}): {failure.error}",
            file=sys.stderr,
        )
    destination = args.failures or (
        f"{PROG}-{write.command}.failed.jsonl"
        if source.source == _ID_ARGUMENTS
        else failures_path(source.source, source.format)
    )
    write_records(destination, source, (parsed.span(p) for p in sorted(failed)))
    rerun = f"{PROG} {write.command} {destination}"
    if args.enterprise_id is not None:
        rerun += f" --enterprise-id {args.enterprise_id}"
    note = ""
    if ambiguous:
        note = f" ({ambiguous:,} ambiguous)"
        if write is _ADD:
            rerun += " --skip-existing"
    error(
        f"{len(failed):,} of {_count(parsed.count, write.noun)} failed{note}; written to "
        f"{destination}; to retry them: {rerun}"
    )
    if ambiguous and write is _ADD:
        print(
            f"{PROG}: note: --skip-existing skips the ambiguous items that were applied only if "
            "they have an ExternalIdentifier; check the others with `list` first",
            file=sys.stderr,
        )


def _write_output(args: argparse.Namespace, ui: Ui, vouchers: Sequence[Voucher | None]) -> None:
    if not getattr(args, "output", None):
        return
    with open_output(args.output) as out:
        writer = VoucherWriter(out, output_format(args.output))
        writer.write_all([v for v in vouchers if v is not None])
    if args.output != STDIO:
        ui.status(f"Wrote {_count(writer.count, 'voucher')} to {args.output}.")


async def _existing(
    client: MewsClient, items: Sequence[VoucherParameters], enterprise_id: uuid.UUID | None
) -> dict[tuple[uuid.UUID, str], Voucher]:
    """Return the active vouchers that already hold the items' external identifiers."""
    keyed = [p for p in items if p.external_identifier is not None]
    if not keyed:
        return {}
    result = await client.vouchers.get_all(
        service_ids=sorted({p.service_id for p in keyed}, key=str),
        enterprise_ids=None if enterprise_id is None else [enterprise_id],
        external_identifiers=sorted({str(p.external_identifier) for p in keyed}),
        activity_states=[ActivityState.ACTIVE],
    )
    return {
        (v.service_id, v.external_identifier): v
        for v in result.vouchers
        if v.external_identifier is not None
    }


async def _write_command(
    write: _Write,
    args: argparse.Namespace,
    ui: Ui,
    source: InputFile,
    parse: Parse,
    send: Callable[[MewsClient], Send],
) -> int:
    with source:
        parsed = parse(source, keep=not args.dry_run)
        if args.dry_run:
            _print_plan(write, source, parsed.count, _chunk_size(args))
            return EXIT_OK
        return await _send_all(write, args, ui, source, parsed, send)


async def _send_all(
    write: _Write,
    args: argparse.Namespace,
    ui: Ui,
    source: InputFile,
    parsed: Parsed[Any],
    send: Callable[[MewsClient], Send],
) -> int:
    items = parsed.items
    results: list[Any] = [None] * len(items)
    positions = list(range(len(items)))
    client = make_client(args, chunk_size=args.chunk_size)
    async with client:
        meter = _Meter(client)
        skipped = 0
        if getattr(args, "skip_existing", False):
            found = await _existing(client, items, args.enterprise_id)
            for i, item in enumerate(items):
                results[i] = found.get((item.service_id, item.external_identifier))
            positions = [i for i in positions if results[i] is None]
            skipped = len(items) - len(positions)
        sent, failures = await _send(
            send(client),
            [items[i] for i in positions],
            args,
            ui,
            f"{write.doing} {write.noun}s",
        )
    for position, result in zip(positions, sent, strict=True):
        results[position] = result
    done = len(positions) - sum(len(f.indices) for f in failures)
    message = f"{write.done} {_count(done, write.noun)} ({meter.summary()})"
    if skipped:
        message += f"; skipped {skipped:,} that already existed"
    ui.status(message + ".")
    if write is not _DELETE:
        _write_output(args, ui, results)
    if failures:
        _report_failures(write, args, source, parsed, positions, failures)
        return EXIT_FAILED
    return EXIT_OK


def _source(args: argparse.Namespace) -> InputFile:
    # The copy lets the failures file hold each failed record exactly as it was read.
    fmt = format_of(args.file, args.input_format)
    return InputFile(args.file, fmt, copy=not args.dry_run)


async def add_command(args: argparse.Namespace, ui: Ui) -> int:
    """Add the vouchers of a JSONL or CSV file."""
    return await _write_command(
        _ADD, args, ui, _source(args), voucher_parameters, lambda c: c.vouchers.add
    )


async def update_command(args: argparse.Namespace, ui: Ui) -> int:
    """Update the vouchers named in a JSONL or CSV file."""
    return await _write_command(
        _UPDATE, args, ui, _source(args), voucher_updates, lambda c: c.vouchers.update
    )


async def delete_command(args: argparse.Namespace, ui: Ui) -> int:
    """Delete the vouchers named in a file or by ``--id``."""
    if (args.file is None) == (args.id is None):
        raise UsageError("delete takes either FILE or --id ID ..., not both and not neither")
    source = (
        _source(args) if args.file is not None else InputFile.of_ids(args.id, source=_ID_ARGUMENTS)
    )
    return await _write_command(_DELETE, args, ui, source, voucher_ids, lambda c: c.vouchers.delete)
