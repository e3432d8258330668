"""Where a study's report folder is: ``reports/NAME-<digest>``, one folder per study, never shared.

A study is found by its name *and* its stores: two studies called NAME in two journals (or two experiments) are
two experiments, and a folder keyed by the name alone let one's report name the other's ``best.toml``. The digest
is the first 8 hex digits of the SHA-256 of the study's storage URL, tracking URI and experiment, so the runner
(which exports ``best.toml`` there and writes the report) and ``python -m study.report`` agree on the folder
without being told. URLs are masked first (a password never shapes a name others see, and changing it keeps the
folder), and a local store file (a journal, an SQLite database) counts by its absolute path, so
``mlruns/optuna-journal.log`` and ``./mlruns/optuna-journal.log`` are the same study.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from study.config import StudyConfig
from study.records.locks import local_file
from study.secrets import mask_url

__all__ = ["DIGEST_LENGTH", "REPORTS", "report_folder", "store_digest"]

REPORTS = Path("reports")  # relative to the working directory, beside mlruns/
DIGEST_LENGTH = 8


def _store_key(url: str) -> str:
    """The store as one spelling: a local file's absolute path, any other URL masked."""
    path = local_file(url)
    if path is None:
        return mask_url(url)
    scheme = url.split(":///", 1)[0] + ":///" if "://" in url else ""  # a journal path and sqlite:///FILE differ
    return scheme + str(path.resolve())


def store_digest(storage_url: str, tracking_uri: str, experiment: str) -> str:
    """8 hex digits that tell apart the stores (and experiment) a study lives in."""
    key = "\n".join((_store_key(storage_url), _store_key(tracking_uri), experiment))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def report_folder(config: StudyConfig, root: Path = REPORTS) -> Path:
    """``root/NAME-<digest of the stores>``: the one folder of study ``config.study_name`` in its stores."""
    digest = store_digest(config.storage_url, config.tracking_uri, config.experiment)
    return root / f"{config.study_name}-{digest}"
