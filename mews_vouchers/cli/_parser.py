"""The parser of the whole command line: every command, its options and its handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .._client import ENV_ACCESS_TOKEN, ENV_BASE_URL, ENV_CLIENT, ENV_CLIENT_TOKEN
from .._constants import DEMO_URL, MAX_ITEMS_PER_REQUEST, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from ._args import (
    activity_state,
    bounded_int,
    identifier,
    non_negative_int,
    positive_int,
    probability,
    rate_limit,
    seconds,
)
from ._commands import add_command, delete_command, list_command, update_command
from ._common import DEFAULT_CLIENT, PROG, version
from ._common import HELP as REDIS_HELP
from ._demo import DEFAULT_CHUNK_SIZE as DEMO_CHUNK_SIZE
from ._demo import DEFAULT_HOTELS, DEFAULT_VOUCHERS, demo_command
from ._demo import DEFAULT_RATE_LIMIT as DEMO_RATE_LIMIT
from ._demo import DESCRIPTION as DEMO_DESCRIPTION
from ._io import FORMATS
from ._sync import APPLY_DESCRIPTION, SYNC_DESCRIPTION, apply_command, sync_command

# --- the parser ----------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples of the epilogs as written."""


def _output_options(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    # On the main parser and on every subcommand, so they may come before or after the
    # command; a subcommand's default must not overwrite what was given before it.
    group = parser.add_argument_group("output")
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="log every request (the mews_vouchers DEBUG log) on stderr",
    )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS if sub else None,
        help="show progress bars on stderr (default: only when stderr is a terminal)",
    )


def _connection_options(parser: argparse.ArgumentParser, *, writes: bool) -> None:
    group = parser.add_argument_group(
        "connection",
        "Each defaults to its environment variable; prefer the variables for the\n"
        "tokens, since command lines are visible to other users.",
    )
    group.add_argument(
        "--base-url", metavar="URL", help=f"API address (${ENV_BASE_URL}; default {DEMO_URL})"
    )
    group.add_argument("--client-token", metavar="TOKEN", help=f"${ENV_CLIENT_TOKEN}")
    group.add_argument("--access-token", metavar="TOKEN", help=f"${ENV_ACCESS_TOKEN}")
    group.add_argument(
        "--client", metavar="NAME", help=f"${ENV_CLIENT}; default {DEFAULT_CLIENT!r} and version"
    )
    group.add_argument(
        "--max-concurrency", type=positive_int, metavar="N", help="requests in flight at once"
    )
    group.add_argument("--timeout", type=seconds, metavar="SECONDS", help="per HTTP request")
    group.add_argument(
        "--rate-limit",
        type=rate_limit,
        metavar="N/SECONDS",
        help="client-side request limit, like 200/30 (the API's), or none",
    )
    group.add_argument("--redis-url", metavar="URL", help=REDIS_HELP)
    if writes:
        group.add_argument(
            "--chunk-size",
            type=bounded_int(1, MAX_ITEMS_PER_REQUEST),
            metavar="N",
            help=f"items per request, 1..{MAX_ITEMS_PER_REQUEST} (default {MAX_ITEMS_PER_REQUEST})",
        )
    else:
        group.add_argument(
            "--page-size",
            type=bounded_int(MIN_PAGE_SIZE, MAX_PAGE_SIZE),
            metavar="N",
            help=f"vouchers per page, {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE} (default {MAX_PAGE_SIZE})",
        )


def _input_options(parser: argparse.ArgumentParser, *, file: str | None, purpose: str) -> None:
    """Add FILE (with *file* as its help, unless None), its format and the enterprise."""
    if file is not None:
        parser.add_argument("file", metavar="FILE", help=file)
    parser.add_argument(
        "--input-format", choices=FORMATS, help="format of FILE (default: by its extension)"
    )
    parser.add_argument(
        "--enterprise-id",
        type=identifier,
        metavar="ID",
        help=f"the enterprise {purpose} (required with a portfolio access token)",
    )


def _write_options(parser: argparse.ArgumentParser, *, file_required: bool) -> None:
    file = "JSONL or CSV input; - reads stdin" if file_required else None
    _input_options(parser, file=file, purpose="to write to")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate FILE and print the requests it would take; send nothing",
    )
    parser.add_argument(
        "--failures",
        metavar="FILE",
        help="where to write the items that failed (default: <FILE>.failed.<ext>)",
    )


def _written_output(parser: argparse.ArgumentParser, done: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help=f"write the vouchers {done} (CSV if .csv, else JSONL)",
    )


_DESCRIPTION = """\
Bulk voucher operations on the Mews Connector API.

Configuration comes from MEWS_CLIENT_TOKEN, MEWS_ACCESS_TOKEN, MEWS_CLIENT and
MEWS_BASE_URL, or from the flags of the same names (flags win).

exit status: 0 done; 1 some items failed (see the failures file); 2 usage,
configuration or input error, nothing was sent; 3 writes were sent but an output
file could not be saved; 130 interrupted (the items not stored are in the failures file)
"""

_EPILOG = """\
examples:
  mews-vouchers demo
  mews-vouchers list --service-id ID --format csv -o vouchers.csv
  mews-vouchers add vouchers.jsonl --enterprise-id ID --dry-run
  mews-vouchers add vouchers.jsonl --enterprise-id ID -o created.jsonl
  mews-vouchers add vouchers.failed.jsonl --enterprise-id ID --skip-existing
  mews-vouchers update renames.csv
  mews-vouchers delete --id ID --id ID
"""

_FILE_HELP = """\
FILE is JSONL (one object per line) or CSV (a header row), by its extension
(.jsonl, .ndjson, .csv) or --input-format. Keys are the API's names (ServiceId)
or snake_case (service_id). In CSV, AssignedRateIds holds ids separated by ';'.
Problems are reported with their line numbers, and then nothing is sent.
Items not stored (they failed, or Ctrl-C stopped the run before they were sent)
are written, as read, to a failures file in the same format: rerun the command
with that file to do exactly what is left. Output files are checked before any
request and replaced only once complete.
"""

_UPDATE_HELP = """\
An absent or empty field is not updated. In JSONL a field is set by a plain
value ("Name": "x") or the API's wire form ("Name": {"Value": "x"}), and
{"Value": null} clears it. In CSV a cell holding exactly null clears it
(Name and Type cannot be cleared).
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=_DESCRIPTION, epilog=_EPILOG, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _output_options(parser, sub=False)
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")

    def command(name: str, help: str, description: str, **kwargs: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=description,
            formatter_class=_Formatter,
            **kwargs,
        )
        _output_options(sub, sub=True)
        return sub

    demo = command(
        "demo",
        "run the bulk job on an embedded simulator",
        DEMO_DESCRIPTION,
    )
    demo.add_argument(
        "--hotels", type=positive_int, default=DEFAULT_HOTELS, help="enterprises to seed"
    )
    demo.add_argument(
        "--vouchers",
        type=positive_int,
        default=DEFAULT_VOUCHERS,
        help="vouchers to add, spread evenly over the hotels",
    )
    demo.add_argument(
        "--faults",
        type=probability,
        default=0.0,
        metavar="RATE",
        help="probability (0..1) that the simulator fails a request on purpose",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulator's ids and faults")
    demo.add_argument(
        "--rate-limit",
        type=rate_limit,
        default=DEMO_RATE_LIMIT,
        metavar="N/SECONDS",
        help=(
            "the simulator's request limit, which the client matches (default "
            f"{DEMO_RATE_LIMIT.requests}/{DEMO_RATE_LIMIT.per_seconds:g}: "
            "the API's 200/30 shape, scaled down)"
        ),
    )
    demo.add_argument(
        "--chunk-size",
        type=bounded_int(1, MAX_ITEMS_PER_REQUEST),
        default=DEMO_CHUNK_SIZE,
        metavar="N",
        help="items per write request",
    )
    demo.set_defaults(handler=demo_command)

    listing = command(
        "list",
        "stream vouchers to JSONL, CSV or a table",
        "Stream vouchers (vouchers/getAll, every page) as JSONL in the API's wire form, "
        "CSV with PascalCase columns, or a table.",
    )
    listing.add_argument(
        "--service-id",
        type=identifier,
        action="append",
        required=True,
        metavar="ID",
        help="repeatable",
    )
    listing.add_argument(
        "--enterprise-id", type=identifier, action="append", metavar="ID", help="repeatable"
    )
    listing.add_argument(
        "--activity-state",
        type=activity_state,
        action="append",
        metavar="Active|Deleted",
        help="repeatable (default: as the API decides)",
    )
    listing.add_argument("--voucher-id", type=identifier, action="append", metavar="ID")
    listing.add_argument("--company-id", type=identifier, action="append", metavar="ID")
    listing.add_argument("--external-identifier", action="append", metavar="TEXT")
    listing.add_argument(
        "--format",
        choices=("table", "jsonl", "csv"),
        help="default: csv if -o names a .csv file, jsonl for any other -o; without -o, "
        "table on a terminal, else jsonl",
    )
    listing.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    _connection_options(listing, writes=False)
    listing.set_defaults(handler=list_command)

    add = command(
        "add",
        "add vouchers from a JSONL or CSV file",
        "Add vouchers (vouchers/add).\n\n" + _FILE_HELP,
    )
    _write_options(add, file_required=True)
    add.add_argument(
        "--skip-existing",
        action="store_true",
        help="first look up the items' ExternalIdentifier and skip those that exist",
    )
    _written_output(add, "added")
    _connection_options(add, writes=True)
    add.set_defaults(handler=add_command)

    update = command(
        "update",
        "update vouchers from a JSONL or CSV file",
        "Update vouchers (vouchers/update); VoucherId names each one.\n\n"
        + _FILE_HELP
        + "\n"
        + _UPDATE_HELP,
    )
    _write_options(update, file_required=True)
    _written_output(update, "updated")
    _connection_options(update, writes=True)
    update.set_defaults(handler=update_command)

    delete = command(
        "delete",
        "delete vouchers by id, from a file or --id",
        "Delete vouchers (vouchers/delete) named by the VoucherId (or Id) of each record of "
        "FILE, other keys being ignored (the output of list can be fed in), or by --id.",
    )
    delete.add_argument("file", metavar="FILE", nargs="?", help="JSONL or CSV; - reads stdin")
    delete.add_argument(
        "--id", type=identifier, action="append", metavar="ID", help="a voucher id; repeatable"
    )
    _write_options(delete, file_required=False)
    _connection_options(delete, writes=True)
    delete.set_defaults(handler=delete_command)

    _sync_parsers(command)

    # Its options are the standalone server's own, parsed by its parser (see main), so
    # that both spell them the same and the simulator is loaded only when wanted.
    commands.add_parser(
        "simulator",
        help="serve the in-memory simulator until Ctrl-C (see simulator --help)",
        add_help=False,
    )
    return parser


def _sync_parsers(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``sync`` and ``apply`` to the command line, through *command*."""
    sync = command("sync", "make Mews match a file: plan, then apply", SYNC_DESCRIPTION)
    _input_options(sync, file="JSONL or CSV of the desired vouchers", purpose="to sync")
    sync.add_argument(
        "--service-id",
        type=identifier,
        action="append",
        metavar="ID",
        help="a service in scope; repeatable (default: the services FILE names)",
    )
    sync.add_argument(
        "--delete-missing",
        action="store_true",
        help="also delete the vouchers and codes in scope that FILE does not name",
    )
    sync.add_argument(
        "--owned-prefix",
        metavar="P",
        help="only external identifiers starting with P are ours to delete ('' owns them all)",
    )
    sync.add_argument(
        "--max-deletes",
        type=non_negative_int,
        metavar="N",
        help="refuse a plan deleting more than N vouchers and codes",
    )
    sync.add_argument("--plan-out", metavar="PLAN", help="save the plan (JSONL) for apply")
    sync.add_argument("--apply", action="store_true", help="write the plan (default: only print)")
    _connection_options(sync, writes=True)
    sync.set_defaults(handler=sync_command)

    apply = command("apply", "apply a plan saved by sync --plan-out", APPLY_DESCRIPTION)
    apply.add_argument("plan", metavar="PLAN", help="a plan file written by sync --plan-out")
    _connection_options(apply, writes=True)
    apply.set_defaults(handler=apply_command)
