"""Running the command line: parse, run the command, and make each outcome an exit status.

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
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import anyio
from rich.console import Console
from rich.logging import RichHandler

from .._errors import MewsConfigError, MewsError, MewsValidationError, unwrap_group
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, Ui, error
from ._io import InputError, OutputError, UsageError
from ._parser import build_parser


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
