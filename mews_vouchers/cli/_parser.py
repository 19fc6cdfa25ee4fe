"""The command line: arguments, configuration, and how each outcome becomes an exit status.

Exit status: 0 when everything was done; 1 when some items (or the whole operation)
failed, the items not stored being in the failures file; 2 for a usage, configuration
or input error, in which case nothing was sent; 3 when writes were sent but an output
file (``-o`` or the failures file) could not be saved, the messages saying what was
done; 130 when interrupted (Ctrl-C), after writing the items not stored to the failures
file.  Expected failures print one ``mews-vouchers: error: ...`` line on stderr, never a
traceback, and never a whole token.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Final, Literal

import anyio
import attrs
from rich.console import Console
from rich.logging import RichHandler

from .._client import ENV_ACCESS_TOKEN, ENV_BASE_URL, ENV_CLIENT, ENV_CLIENT_TOKEN, MewsClient
from .._config import RateLimit
from .._constants import DEMO_URL, MAX_ITEMS_PER_REQUEST, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from .._errors import MewsConfigError, MewsError, MewsValidationError, unwrap_group
from .._models import ActivityState
from . import _common as _redis
from ._io import FORMATS, InputError, OutputError, UsageError
from ._progress import Bars

PROG: Final = "mews-vouchers"
DEFAULT_CLIENT: Final = "mews-vouchers-cli"
"""The ``Client`` name sent when neither ``--client`` nor ``MEWS_CLIENT`` gives one."""

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNSAVED: Final = 3
"""Writes were sent, but an output file could not be saved: do not simply rerun."""
EXIT_INTERRUPTED: Final = 130

NoLimit = Literal[False]


def error(message: str) -> None:
    """Print the one error line of a failed command on stderr."""
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


@attrs.frozen(kw_only=True)
class Ui:
    """Where a command reports to: progress bars (if shown) and status lines on stderr."""

    err_console: Console | None

    def bars(self) -> Bars:
        """Return progress bars, shown only if they are on for this run."""
        return Bars(self.err_console)

    def status(self, message: str) -> None:
        """Print a status line on stderr (stdout is kept for data)."""
        print(message, file=sys.stderr, flush=True)


# --- argument types ------------------------------------------------------------------------


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a valid UUID: {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _positive_int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low}..{high}, got {text!r}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability within 0..1, got {text!r}")
    return value


def rate_limit(text: str) -> RateLimit | NoLimit:
    """Parse ``REQUESTS/SECONDS`` (like ``200/30``), or ``none`` for no client-side limit."""
    if text.strip().lower() in ("none", "off"):
        return False
    try:
        return RateLimit.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected REQUESTS/SECONDS with both positive, like 200/30, or none; got {text!r}"
        ) from None


def _activity_state(text: str) -> ActivityState:
    for state in ActivityState:
        if text.strip().lower() == state.value.lower():
            return state
    raise argparse.ArgumentTypeError(f"expected Active or Deleted, got {text!r}")


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
        "--max-concurrency", type=_positive_int, metavar="N", help="requests in flight at once"
    )
    group.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="per HTTP request")
    group.add_argument(
        "--rate-limit",
        type=rate_limit,
        metavar="N/SECONDS",
        help="client-side request limit, like 200/30 (the API's), or none",
    )
    group.add_argument("--redis-url", metavar="URL", help=_redis.HELP)
    if writes:
        group.add_argument(
            "--chunk-size",
            type=_bounded_int(1, MAX_ITEMS_PER_REQUEST),
            metavar="N",
            help=f"items per request, 1..{MAX_ITEMS_PER_REQUEST} (default {MAX_ITEMS_PER_REQUEST})",
        )
    else:
        group.add_argument(
            "--page-size",
            type=_bounded_int(MIN_PAGE_SIZE, MAX_PAGE_SIZE),
            metavar="N",
            help=f"vouchers per page, {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE} (default {MAX_PAGE_SIZE})",
        )


def _write_options(parser: argparse.ArgumentParser, *, file_required: bool) -> None:
    if file_required:
        parser.add_argument("file", metavar="FILE", help="JSONL or CSV input; - reads stdin")
    parser.add_argument(
        "--input-format", choices=FORMATS, help="format of FILE (default: by its extension)"
    )
    parser.add_argument(
        "--enterprise-id",
        type=_uuid,
        metavar="ID",
        help="the enterprise to write to (required with a portfolio access token)",
    )
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
    from . import _commands, _demo  # the handlers; imported here to keep the modules acyclic

    parser = argparse.ArgumentParser(
        prog=PROG, description=_DESCRIPTION, epilog=_EPILOG, formatter_class=_Formatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
        _demo.DESCRIPTION,
    )
    demo.add_argument(
        "--hotels", type=_positive_int, default=_demo.DEFAULT_HOTELS, help="enterprises to seed"
    )
    demo.add_argument(
        "--vouchers",
        type=_positive_int,
        default=_demo.DEFAULT_VOUCHERS,
        help="vouchers to add, spread evenly over the hotels",
    )
    demo.add_argument(
        "--faults",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="probability (0..1) that the simulator fails a request on purpose",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulator's ids and faults")
    demo.add_argument(
        "--rate-limit",
        type=rate_limit,
        default=_demo.DEFAULT_RATE_LIMIT,
        metavar="N/SECONDS",
        help=(
            "the simulator's request limit, which the client matches (default "
            f"{_demo.DEFAULT_RATE_LIMIT.requests}/{_demo.DEFAULT_RATE_LIMIT.per_seconds:g}: "
            "the API's 200/30 shape, scaled down)"
        ),
    )
    demo.add_argument(
        "--chunk-size",
        type=_bounded_int(1, MAX_ITEMS_PER_REQUEST),
        default=_demo.DEFAULT_CHUNK_SIZE,
        metavar="N",
        help="items per write request",
    )
    demo.set_defaults(handler=_demo.demo_command)

    listing = command(
        "list",
        "stream vouchers to JSONL, CSV or a table",
        "Stream vouchers (vouchers/getAll, every page) as JSONL in the API's wire form, "
        "CSV with PascalCase columns, or a table.",
    )
    listing.add_argument(
        "--service-id", type=_uuid, action="append", required=True, metavar="ID", help="repeatable"
    )
    listing.add_argument(
        "--enterprise-id", type=_uuid, action="append", metavar="ID", help="repeatable"
    )
    listing.add_argument(
        "--activity-state",
        type=_activity_state,
        action="append",
        metavar="Active|Deleted",
        help="repeatable (default: as the API decides)",
    )
    listing.add_argument("--voucher-id", type=_uuid, action="append", metavar="ID")
    listing.add_argument("--company-id", type=_uuid, action="append", metavar="ID")
    listing.add_argument("--external-identifier", action="append", metavar="TEXT")
    listing.add_argument(
        "--format",
        choices=("table", "jsonl", "csv"),
        help="default: csv if -o names a .csv file, jsonl for any other -o; without -o, "
        "table on a terminal, else jsonl",
    )
    listing.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    _connection_options(listing, writes=False)
    listing.set_defaults(handler=_commands.list_command)

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
    add.add_argument(
        "-o", "--output", metavar="FILE", help="write the vouchers added (CSV if .csv, else JSONL)"
    )
    _connection_options(add, writes=True)
    add.set_defaults(handler=_commands.add_command)

    update = command(
        "update",
        "update vouchers from a JSONL or CSV file",
        "Update vouchers (vouchers/update); VoucherId names each one.\n\n"
        + _FILE_HELP
        + "\n"
        + _UPDATE_HELP,
    )
    _write_options(update, file_required=True)
    update.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the vouchers updated (CSV if .csv, else JSONL)",
    )
    _connection_options(update, writes=True)
    update.set_defaults(handler=_commands.update_command)

    delete = command(
        "delete",
        "delete vouchers by id, from a file or --id",
        "Delete vouchers (vouchers/delete) named by the VoucherId (or Id) of each record of "
        "FILE, other keys being ignored (the output of list can be fed in), or by --id.",
    )
    delete.add_argument("file", metavar="FILE", nargs="?", help="JSONL or CSV; - reads stdin")
    delete.add_argument(
        "--id", type=_uuid, action="append", metavar="ID", help="a voucher id; repeatable"
    )
    _write_options(delete, file_required=False)
    _connection_options(delete, writes=True)
    delete.set_defaults(handler=_commands.delete_command)

    from . import _sync  # sync and apply

    _sync.add_parsers(command)

    # Its options are the standalone server's own, parsed by its parser (see main), so
    # that both spell them the same and the simulator is loaded only when wanted.
    commands.add_parser(
        "simulator",
        help="serve the in-memory simulator until Ctrl-C (see simulator --help)",
        add_help=False,
    )
    return parser


def _version() -> str:
    from .._client import __version__

    return __version__


# --- configuration -------------------------------------------------------------------------

_REQUIRED: Final = (
    ("client_token", ENV_CLIENT_TOKEN, "--client-token"),
    ("access_token", ENV_ACCESS_TOKEN, "--access-token"),
)


def make_client(args: argparse.Namespace, **settings: Any) -> MewsClient:
    """Build the client from the flags, falling back on the environment; flags win."""
    env = os.environ
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("client_token", "access_token", "client", "base_url")
        if getattr(args, name, None) is not None
    }
    missing = [
        f"{var} (or {flag})"
        for name, var, flag in _REQUIRED
        if name not in overrides and not env.get(var, "").strip()
    ]
    if missing:
        raise MewsConfigError(f"missing configuration: set {' and '.join(missing)}")
    if "client" not in overrides and not env.get(ENV_CLIENT, "").strip():
        overrides["client"] = f"{DEFAULT_CLIENT} {_version()}"
    for name in ("max_concurrency", "timeout"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    limit = getattr(args, "rate_limit", None)
    if limit is not None:
        overrides["rate_limit"] = limit or None
    redis_url = getattr(args, "redis_url", None) or env.get(_redis.ENV_REDIS_URL, "").strip()
    if redis_url:
        overrides["rate_limit"] = _redis.shared_limit(redis_url, limit, overrides.get("timeout"))
    overrides.update({k: v for k, v in settings.items() if v is not None})
    client = MewsClient.from_env(**overrides)
    # The client's repr masks its tokens.
    logging.getLogger("mews_vouchers").debug("configured %r", client)
    return client


def _setup_logging(verbose: bool, console: Console | None) -> None:
    if not verbose:
        return
    logger = logging.getLogger("mews_vouchers")
    logger.setLevel(logging.DEBUG)
    handler: logging.Handler
    if console is not None:
        # Through the progress bars' console, so log lines scroll above the bars.
        handler = RichHandler(console=console, show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)


# --- running -------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Ui], Awaitable[int]]


def _simulator_command(argv: Sequence[str]) -> int:
    from ..testing import _standalone

    parser = _standalone.build_parser()
    parser.prog = f"{PROG} simulator"
    try:
        options = vars(parser.parse_args(argv))
    except SystemExit as exc:  # --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    # Every option of the standalone parser is a keyword of serve() of the same name.
    wanted = inspect.signature(_standalone.serve).parameters
    serve = partial(_standalone.serve, **{k: v for k, v in options.items() if k in wanted})
    # Ctrl-C is the way to stop it.
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve, backend="asyncio")
    return EXIT_OK


def _run(handler: Handler, args: argparse.Namespace, ui: Ui) -> int:
    async def run() -> int:
        try:
            return await handler(args, ui)
        except BaseExceptionGroup as group:
            # The commands' own task groups: surface the one error worth reporting.
            raise unwrap_group(group) from None

    return anyio.run(run, backend="asyncio")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv* (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "simulator":
            return _simulator_command(extra)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    console = Console(stderr=True) if show else None
    ui = Ui(err_console=console)
    _setup_logging(args.verbose, console)
    try:
        handler: Handler = args.handler
        return _run(handler, args, ui)
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except InputError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        error(f"{exc}; nothing was sent")
        return EXIT_USAGE
    except (UsageError, MewsConfigError, MewsValidationError) as exc:
        error(str(exc))
        return EXIT_USAGE
    except (MewsError, OutputError) as exc:
        error(str(exc))
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader of stdout went away (| head): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
