"""``optimizer-study run|report|ui|bench``: the console script, one word per ``python -m study.*`` command.

Each subcommand hands the rest of the command line to the module it names, imported only when chosen, so
``optimizer-study run --help`` stays as quick as ``python -m study.run --help``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

# subcommand -> (module with main(argv) -> int, what it does)
COMMANDS = {
    "run": ("study.run", "run or continue a study (python -m study.run)"),
    "report": ("study.report.cli", "write a study's comparison report (python -m study.report)"),
    "ui": ("study.ui", "open the MLflow UI and the Optuna dashboard on a study (python -m study.ui)"),
    "bench": (
        "study.bench.__main__",
        "benchmark training speed against plain PyTorch and Keras (python -m study.bench)",
    ),
}


def _usage() -> str:
    lines = ["usage: optimizer-study {" + ",".join(COMMANDS) + "} [options]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "optimizer-study COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"optimizer-study: error: command: got {name!r}; accepted: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv[0] = f"optimizer-study {name}"
    return int(module.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
