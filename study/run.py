"""``python -m study.run``: Optuna searches optimizer, learning rate and batch size; MLflow records it all.

Run with no arguments for the embedded default study (MNIST, every registered optimizer), or see ``--help``.
Running again with the same ``--study-name`` continues the study and its MLflow parent run; ``--n-trials`` is
the study's budget, shared by every worker that joins it (``--workers N`` here, or more processes started by
hand on any machine with the same storage and tracking URI).

This module stays light: it parses the options first (``--help`` and bad options answer at once) and loads the
training stack only for a valid configuration. Ctrl-C or SIGTERM at any point ends with 130 or 143.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from study.config import ConfigError
from study.config.cli import build_parser, parse_command_line, worker_argv
from study.config.console import setup_logging
from study.secrets import install_log_filter, redact, remember, show_masked_command_line
from study.workers.interrupts import Interrupts
from study.workers.preflight import preflight

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    interrupts = Interrupts().install()
    try:
        args = worker_argv() or list(sys.argv[1:] if argv is None else argv)
        remember(*args)  # a store URL's password, before any message could show it
        parser = build_parser()
        install_log_filter()
        try:
            command = parse_command_line(args, parser)
        except ConfigError as err:
            print(redact(f"{parser.prog}: error: {err}"), file=sys.stderr)
            return 2
        config = command.config
        remember(config.storage, config.tracking_uri, config.artifact_location)  # the file's and environment's too
        show_masked_command_line()
        try:
            preflight(config)  # everything that can be checked before a byte is written, in about a second
        except ConfigError as err:
            print(redact(f"{parser.prog}: error: {command.named(err)}"), file=sys.stderr)
            return 2
        setup_logging(command.verbosity)
        from study.orchestrate import run_study  # the heavy stack: seconds to import

        return run_study(command, args, parser.prog, interrupts)
    except KeyboardInterrupt:  # before a study was joined (loading, checking): nothing to record
        return interrupts.exit_code
    finally:
        interrupts.restore()


if __name__ == "__main__":
    raise SystemExit(main())
