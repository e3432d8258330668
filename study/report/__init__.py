"""The comparison report of a study: ``python -m study.report --study-name NAME`` or
``study.report.build.write_report(...)``.

It reads the study's Optuna studies (NAME and its sub-studies NAME.<suffix>) and MLflow runs, and writes a
self-contained folder: ``report.md``, PNG figures under ``figures/`` and ``trials.csv``; by default the study's own
``reports/NAME-<digest of its stores>`` (``study.report.folder``), where the runner also exports its winner. Every
sentence of it comes from the study's records and recorded definition. The folder is logged
under ``report/`` of the study's MLflow parent run, and a summary note with the key figure goes to the
Optuna dashboard. Nothing is imported here: the command line (``study.report.cli``) answers before MLflow loads.
"""
