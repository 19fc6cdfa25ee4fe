"""The commands that talk to the API: ``list``, ``add``, ``update`` and ``delete``.

The writes share one shape: check that every output file can be written, read and
validate the whole file (nothing is sent if any line is wrong), send through the SDK with
a progress bar, then report.  Items that were not stored, because they failed or because
the run was interrupted, are written back, exactly as they were read, to a failures file
in the input's format, so that running the same command on that file does what is left.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from itertools import groupby
from typing import Any, Final

import anyio
import attrs
from rich.console import Console
from rich.table import Table

from .._batching import WriteLedger, WriteState, plan_chunks
from .._client import MewsClient
from .._constants import DEFAULT_CHUNK_SIZE, VOUCHERS_ADD, VOUCHERS_DELETE, VOUCHERS_UPDATE
from .._errors import BulkOperationError
from .._models import Voucher, VoucherParameters
from ._common import EXIT_FAILED, EXIT_OK, EXIT_UNSAVED, PROG, Ui, count, error, make_client
from ._io import (
    STDIO,
    InputFile,
    OutputError,
    UsageError,
    VoucherWriter,
    check_outputs,
    directory_of,
    failures_path,
    format_of,
    open_output,
    output_format,
    write_records,
)
from ._records import Parsed, voucher_ids, voucher_parameters, voucher_updates

_ID_ARGUMENTS: Final = "--id"
_TABLE_COLUMNS: Final = ("Id", "Name", "Type", "Active", "ExternalIdentifier", "UpdatedUtc")


@attrs.define
class _Meter:
    """What one command cost: requests, retries and 429s, and the time it took."""

    client: MewsClient
    started: float = attrs.field(factory=time.perf_counter)

    def summary(self) -> str:
        stats = self.client.stats
        return (
            f"{count(stats.requests, 'request')}, {count(stats.retries, 'retry', 'retries')}, "
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
    if args.output is not None:
        check_outputs([("-o", args.output)], None)
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
                # Replaced only once the listing is complete: a failed one leaves it as it was.
                with open_output(args.output or STDIO) as out:
                    writer = VoucherWriter(out, "csv" if fmt == "csv" else "jsonl")
                    async with stream:
                        async for voucher in stream:
                            writer.write(voucher)
                            bar(1)
            bar.finish()
    if fmt == "table":
        Console().print(_voucher_table(rows))
    ui.status(f"Listed {count(bar.count, 'voucher')} ({meter.summary()}).")
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


def _print_plan(write: _Write, source: InputFile, items: int, chunk_size: int) -> None:
    sizes = Counter(len(chunk) for chunk in plan_chunks(items, chunk_size))
    shape = ", ".join(f"{n} of {count(size, 'item')}" for size, n in sorted(sizes.items())[::-1])
    print(f"{source.source}: {count(items, write.noun)} to {write.command}, all valid.")
    requests = sum(sizes.values())
    print(
        f"Would send {count(requests, 'request')} to {write.operation}"
        + (f" ({shape})" if shape else "")
        + f", chunk size {chunk_size}; nothing was sent."
    )


@attrs.frozen
class _Group:
    """Items that were not stored, for one reason: a line of the report."""

    positions: list[int]
    what: str
    ambiguous: bool


@attrs.define
class _Outcome:
    """What became of every item of a write, from the SDK's ledger."""

    results: list[Any]
    groups: list[_Group] = attrs.Factory(list)

    @property
    def not_stored(self) -> list[int]:
        return sorted(p for group in self.groups for p in group.positions)

    @property
    def ambiguous(self) -> int:
        return sum(len(group.positions) for group in self.groups if group.ambiguous)


_AMBIGUOUS: Final = "AMBIGUOUS: they may have been applied"


def _outcome(results: list[Any], positions: Sequence[int], ledger: WriteLedger[Any]) -> _Outcome:
    """Read the ledger of the items sent (at *positions* of the input) into an outcome."""
    outcome = _Outcome(results)
    if not ledger.started:
        # Nothing to send, or stopped before the first request: nothing was sent.
        if positions:
            outcome.groups.append(_Group(list(positions), "were never sent", False))
        return outcome
    for index in ledger.indices(WriteState.SUCCEEDED):
        results[positions[index]] = ledger.result(index)
    for failure in ledger.failures:
        outcome.groups.append(
            _Group(
                [positions[i] for i in failure.indices],
                f"failed ({_AMBIGUOUS if failure.ambiguous else 'NOT applied'}): {failure.error}",
                failure.ambiguous,
            )
        )
    # Consecutive runs: one line per chunk in flight, and one for the tail never sent.
    for state, what, ambiguous in (
        (WriteState.IN_FLIGHT, f"were being sent when the run stopped ({_AMBIGUOUS})", True),
        (WriteState.NOT_SENT, "were never sent", False),
    ):
        indices = ledger.indices(state)
        for _, run in groupby(enumerate(indices), key=lambda pair: pair[1] - pair[0]):
            outcome.groups.append(_Group([positions[i] for _, i in run], what, ambiguous))
    return outcome


def _span(parsed: Parsed[Any], positions: Sequence[int], source: InputFile) -> str:
    lines = [parsed.lines[p] for p in positions]
    unit = "--id argument" if source.source == _ID_ARGUMENTS else "line"
    low, high = min(lines), max(lines)
    return f"{unit} {low}" if low == high else f"{unit}s {low}-{high}"


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while the outcome is reported: a second one must not lose the report."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@attrs.frozen(kw_only=True)
class _Run:
    """One write command's input, options and output files, for its report."""

    write: _Write
    args: argparse.Namespace
    ui: Ui
    source: InputFile
    parsed: Parsed[Any]
    failures: str
    output: str | None


def _report(run: _Run, outcome: _Outcome, *, stopped: bool) -> bool:
    """Report what was not stored and write the failures file and -o; return False if unsaved.

    Each file is written on its own, so that one that cannot be written costs neither the
    other nor the lines of the report.
    """
    write, args = run.write, run.args
    total = run.parsed.count
    for group in outcome.groups:
        print(
            f"{PROG}: {write.operation}: {count(len(group.positions), 'item')} at "
            f"{_span(run.parsed, group.positions, run.source)} {group.what}",
            file=sys.stderr,
        )
    saved = True
    missing = outcome.not_stored
    if missing:
        try:
            write_records(run.failures, run.source, (run.parsed.span(p) for p in missing))
        except OutputError as exc:
            saved = False
            error(
                f"could not save the failures file: {exc}; the items not "
                f"{write.done.lower()} are at the lines listed above"
            )
        else:
            rerun = f"{PROG} {write.command} {run.failures}"
            if args.enterprise_id is not None:
                rerun += f" --enterprise-id {args.enterprise_id}"
            note = f" ({outcome.ambiguous:,} ambiguous)" if outcome.ambiguous else ""
            if outcome.ambiguous and write is _ADD:
                rerun += " --skip-existing"
            head = (
                f"{len(missing):,} of {count(total, write.noun)} not known to be "
                f"{write.done.lower()}{note}"
                if stopped
                else f"{len(missing):,} of {count(total, write.noun)} failed{note}"
            )
            message = f"{head}; written to {run.failures}; to retry them: {rerun}"
            if stopped:
                print(f"{PROG}: {message}", file=sys.stderr)
            else:
                error(message)
            if outcome.ambiguous and write is _ADD:
                print(
                    f"{PROG}: note: --skip-existing skips the ambiguous items that were applied "
                    "only if they have an ExternalIdentifier; check the others with `list` first",
                    file=sys.stderr,
                )
    if run.output:
        try:
            _write_output(run.output, run.ui, outcome.results)
        except OutputError as exc:
            saved = False
            done = sum(r is not None for r in outcome.results)
            error(
                f"could not save -o: {exc}; the {count(done, write.noun)} "
                f"{write.done.lower()} are not in it"
            )
    return saved


def _write_output(path: str, ui: Ui, vouchers: Sequence[Voucher | None]) -> None:
    with open_output(path) as out:
        writer = VoucherWriter(out, output_format(path))
        writer.write_all([v for v in vouchers if v is not None])
    if path != STDIO:
        ui.status(f"Wrote {count(writer.count, 'voucher')} to {path}.")


async def _write_command(
    write: _Write,
    args: argparse.Namespace,
    ui: Ui,
    open_source: Callable[..., InputFile],
    parse: Parse,
    send: Callable[[MewsClient], Send],
) -> int:
    """Check the outputs, read the input, send it and report; return the exit status."""
    fmt = "jsonl" if args.file is None else format_of(args.file, args.input_format)
    failures = args.failures or (
        f"{PROG}-{write.command}.failed.jsonl"
        if args.file is None
        else failures_path("<stdin>" if args.file == STDIO else args.file, fmt)
    )
    output = getattr(args, "output", None)
    # Before anything is read or sent: a run must not write to Mews and then fail to
    # save what it did.
    check_outputs(
        [("-o", output)] * bool(output)
        + [("--failures" if args.failures else "the failures file", failures)],
        args.file,
    )
    copy_dir = directory_of(failures)
    with open_source(fmt=fmt, copy=not args.dry_run, copy_dir=copy_dir) as source:
        parsed = parse(source, keep=not args.dry_run)
        if args.dry_run:
            _print_plan(write, source, parsed.count, _chunk_size(args))
            return EXIT_OK
        run = _Run(
            write=write,
            args=args,
            ui=ui,
            source=source,
            parsed=parsed,
            failures=failures,
            output=output,
        )
        return await _send(run, send)


async def _send(run: _Run, send: Callable[[MewsClient], Send]) -> int:
    write, args, ui = run.write, run.args, run.ui
    items = run.parsed.items
    results: list[Any] = [None] * len(items)
    positions = list(range(len(items)))
    ledger: WriteLedger[Any] = WriteLedger()
    skipped = 0
    client = make_client(args, chunk_size=args.chunk_size)
    meter = _Meter(client)
    try:
        async with client:
            if getattr(args, "skip_existing", False):
                keyed: list[VoucherParameters] = [
                    p for p in items if p.external_identifier is not None
                ]
                found = (
                    await client.vouchers.find_by_external_identifiers(
                        {str(p.external_identifier) for p in keyed},
                        service_ids={p.service_id for p in keyed},
                        enterprise_id=args.enterprise_id,
                    )
                    if keyed
                    else {}
                )
                for i, item in enumerate(items):
                    results[i] = found.get((item.service_id, item.external_identifier))
                positions = [i for i in positions if results[i] is None]
                skipped = len(items) - len(positions)
            with ui.bars() as bars:
                bar = bars.bar(f"{write.doing} {write.noun}s", len(positions))
                with contextlib.suppress(BulkOperationError):  # the ledger tells it all
                    await send(client)(
                        [items[i] for i in positions],
                        enterprise_id=args.enterprise_id,
                        on_progress=bar,
                        ledger=ledger,
                    )
    except BaseException as exc:
        # Interrupted (Ctrl-C cancels the run) or failed: still say what was stored.
        if ledger.started:
            with _ctrl_c_ignored():
                outcome = _outcome(results, positions, ledger)
                done = len(positions) - len(outcome.not_stored)
                how = "interrupted" if _interrupted(exc) else "stopped by an error"
                ui.status(
                    f"{write.done} {count(done, write.noun)} before the run was {how} "
                    f"({meter.summary()})."
                )
                _report(run, outcome, stopped=True)
        elif _interrupted(exc):
            ui.status(f"Interrupted before any {write.noun} was sent: nothing was written.")
        raise
    with _ctrl_c_ignored():
        outcome = _outcome(results, positions, ledger)
        done = len(positions) - len(outcome.not_stored)
        message = f"{write.done} {count(done, write.noun)} ({meter.summary()})"
        if skipped:
            message += f"; skipped {skipped:,} that already existed"
        ui.status(message + ".")
        saved = _report(run, outcome, stopped=False)
    if not saved:
        return EXIT_UNSAVED
    return EXIT_FAILED if outcome.groups else EXIT_OK


def _interrupted(exc: BaseException) -> bool:
    return isinstance(exc, KeyboardInterrupt | anyio.get_cancelled_exc_class())


def _file_source(args: argparse.Namespace) -> Callable[..., InputFile]:
    def open_source(*, fmt: Any, copy: bool, copy_dir: str | None) -> InputFile:
        return InputFile(args.file, fmt, copy=copy, copy_dir=copy_dir)

    return open_source


def _ids_source(args: argparse.Namespace) -> Callable[..., InputFile]:
    def open_source(*, fmt: Any, copy: bool, copy_dir: str | None) -> InputFile:
        return InputFile.of_ids(args.id, source=_ID_ARGUMENTS)

    return open_source


async def add_command(args: argparse.Namespace, ui: Ui) -> int:
    """Add the vouchers of a JSONL or CSV file."""
    return await _write_command(
        _ADD, args, ui, _file_source(args), voucher_parameters, lambda c: c.vouchers.add
    )


async def update_command(args: argparse.Namespace, ui: Ui) -> int:
    """Update the vouchers named in a JSONL or CSV file."""
    return await _write_command(
        _UPDATE, args, ui, _file_source(args), voucher_updates, lambda c: c.vouchers.update
    )


async def delete_command(args: argparse.Namespace, ui: Ui) -> int:
    """Delete the vouchers named in a file or by ``--id``."""
    if (args.file is None) == (args.id is None):
        raise UsageError("delete takes either FILE or --id ID ..., not both and not neither")
    open_source = _ids_source(args) if args.file is None else _file_source(args)
    return await _write_command(
        _DELETE, args, ui, open_source, voucher_ids, lambda c: c.vouchers.delete
    )
