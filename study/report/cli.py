"""The command line of ``python -m study.report``."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from study.cli import OneLineParser
from study.config import ConfigError, StudyConfig, environment_options
from study.report.build import write_report
from study.secrets import install_log_filter, mask_url, redact, remember

__all__ = ["build_parser", "main"]


def build_parser(d: StudyConfig | None = None) -> OneLineParser:
    """The options; their defaults are the study's (``d``: the built-in ones and the environment's stores)."""
    d = d or StudyConfig()
    p = OneLineParser(
        prog="python -m study.report",
        description="Write the comparison report of a study (report.md, figures/, trials.csv) and log it to MLflow.",
    )
    p.add_argument("--study-name", required=True, help="the study to report on (NAME; its NAME.* sub-studies too)")
    p.add_argument(
        "--storage", metavar="URL", default=d.storage_url, help=f"Optuna storage (default {mask_url(d.storage_url)})"
    )
    p.add_argument(
        "--tracking-uri", metavar="URI", default=d.tracking_uri, help=f"(default {mask_url(d.tracking_uri)})"
    )
    p.add_argument(
        "--experiment", metavar="NAME", default=d.experiment, help=f"MLflow experiment (default {d.experiment})"
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/NAME)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser(StudyConfig(**environment_options(os.environ)))
    except ConfigError as err:
        print(redact(f"{build_parser().prog}: error: {err}"), file=sys.stderr)
        return 2
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if not args.study_name.strip():
        parser.error("--study-name: must not be empty")
    remember(args.storage, args.tracking_uri)
    install_log_filter()
    try:
        report = write_report(
            args.study_name, args.storage, args.tracking_uri, args.experiment, args.out or f"reports/{args.study_name}"
        )
    except ConfigError as err:
        print(redact(f"{parser.prog}: error: {err}"), file=sys.stderr)
        return 2
    print(f"report: {report}", flush=True)
    return 0
