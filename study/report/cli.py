"""The command line of ``python -m study.report``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from study.config import ConfigError, StudyConfig
from study.config.cli import OneLineParser, add_store_options, parse_reader_args
from study.report.folder import report_folder
from study.secrets import redact

__all__ = ["build_parser", "main"]


def build_parser(d: StudyConfig | None = None) -> OneLineParser:
    """The options; their defaults are the study's (``d``: the built-in ones and the environment's stores)."""
    d = d or StudyConfig()
    p = OneLineParser(
        prog="python -m study.report",
        description="Write the comparison report of a study (report.md, figures/, trials.csv) and log it to MLflow.",
    )
    add_store_options(p, d, study_required=True)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default reports/NAME-<8 hex digits of the stores and experiment>: the study's own folder, "
        "where the runner exported its best.toml)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_reader_args(build_parser, argv)
    if args is None:
        return 2
    from study.report.build import write_report  # matplotlib, Optuna, MLflow: after the options parse (--help at once)

    try:
        study = StudyConfig(
            study_name=args.study_name, storage=args.storage, tracking_uri=args.tracking_uri, experiment=args.experiment
        )
        out = args.out or report_folder(study)
        report = write_report(args.study_name, args.storage, args.tracking_uri, args.experiment, out)
    except ConfigError as err:
        print(redact(f"{build_parser().prog}: error: {err}"), file=sys.stderr)
        return 2
    print(f"report: {report}", flush=True)
    return 0
