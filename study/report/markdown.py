"""``report.md``: the header, the tables, the figure links and the plain-language statements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

from study.config.console import bin_dir, plural
from study.report.analysis import ReportContent
from study.report.article import ARTICLE_BATCH_SIZE, ARTICLE_DATASET, ARTICLE_EPOCHS, ARTICLE_TRAIN_SAMPLES
from study.report.figures import BATCH, CURVES, LR, SEEDS, TIME
from study.report.importance import Importance
from study.report.lr_range import EDGE_WARNING
from study.report.power import seeds_sentence
from study.report.records import StudyData
from study.report.setting import Definition, Setting
from study.report.statements import dataset_line, how_to_read, protocol_line, seeds_line, training_line
from study.report.stats import INTERVAL_NOTE, method_note, sentence, summary_sentence
from study.report.winner import Export, winner_section
from study.schema import (
    COMPLETE,
    DEVICE_NAME_TAG,
    FAIL,
    GIT_DIRTY_TAG,
    KERAS_CONVENTION,
    MILESTONES,
    OPTIMIZER,
    OPTIMIZER_PARAM_PREFIX,
    PRUNED,
    RUNNING,
    SEED_PROTOCOL,
    WAITING,
)
from study.schema import LR as LR_PARAM

__all__ = ["DashboardInfo", "configured_optimizers", "fmt", "md_table", "render", "summary_table"]


def fmt(value: float | int | None, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _unique(values: Sequence[str | None]) -> str:
    found = sorted({v for v in values if v})
    return ", ".join(found) if found else "unknown"


def _commit(data: StudyData) -> str:
    """The code the trials ran: the commit, marked when a checkout had local changes."""
    shas = [t.tags.get(MLFLOW_GIT_COMMIT) for t in data.trials]
    dirty = any(t.tags.get(GIT_DIRTY_TAG) == "true" for t in data.trials)
    return _unique(shas) + (" (with local changes)" if dirty else "")


def _state_counts(data: StudyData) -> str:
    states = (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)
    rows = []
    for study in data.studies:
        counts = Counter(t.state for t in data.trials if t.study == study)
        rows.append([study, *(str(counts.get(s, 0)) for s in states), str(sum(counts.values()))])
    return md_table(["Optuna study", "complete", "pruned", "failed", "running", "waiting", "all"], rows)


def _header(data: StudyData, setting: Setting, now: datetime) -> str:
    starts = [t.started for t in data.trials if t.started]
    ends = [t.completed for t in data.trials if t.completed]
    period = f"{min(starts):%Y-%m-%d %H:%M} – {max(ends or starts):%Y-%m-%d %H:%M}" if starts else "no trial started"
    lines = [
        f"# Optimizer comparison: {data.name}",
        "",
        f"- **Study**: `{data.name}` (Optuna studies: {', '.join(f'`{s}`' for s in data.studies)})",
        f"- **Protocol**: {protocol_line(setting)}",
        f"- **Training**: {training_line(setting)}",
        f"- **Seeds**: {seeds_line(setting)}",
        f"- **Dataset**: {dataset_line(setting)}",
        f"- **Device**: {_unique([t.tags.get(DEVICE_NAME_TAG) for t in data.trials])}",
        f"- **Git commit**: {_commit(data)}",
        f"- **Trials ran**: {period}; report written {now:%Y-%m-%d %H:%M %Z}".rstrip(),
        f"- **MLflow**: experiment `{data.experiment}`, parent run `{data.parent_run_id}` at `{data.tracking_uri}`",
        "",
        _state_counts(data),
    ]
    return "\n".join(lines)


def summary_table(content: ReportContent) -> str:
    """The article-style table: accuracy and loss at the chosen epochs, time, throughput, lr and batch."""
    epochs = content.epochs
    with_test = any(r.test_acc is not None for r in content.rows)
    header = ["optimizer", "from"]
    header += [f"val acc @{e}" for e in epochs] + [f"val loss @{e}" for e in epochs]
    header += ["best val acc"] + (["test acc"] if with_test else []) + ["fit s", "samples/s", LR_PARAM, "batch"]
    rows = []
    for r in content.rows:
        row = [f"**{r.optimizer}**", r.source]
        row += [fmt(r.val_acc[e]) for e in epochs] + [fmt(r.val_loss[e]) for e in epochs]
        row += [fmt(r.best_val_acc)] + ([fmt(r.test_acc)] if with_test else [])
        row += [fmt(r.fit_seconds, ".1f"), fmt(r.samples_per_second, ".0f"), fmt(r.lr, ".3g"), fmt(r.batch_size, "d")]
        rows.append(row)
    return md_table(header, rows)


def configured_optimizers(data: StudyData) -> list[str]:
    """The optimizers the study was defined with (its recorded definition)."""
    return list(Definition.read(data.definition).optimizers or ())


def _figure(figures: Mapping[str, Path], name: str, alt: str) -> str:
    return f"![{alt}](figures/{name})" if name in figures else f"_No data for this figure ({name})._"


def _summary(content: ReportContent) -> str:
    what = "the median over each optimizer's seeds" if content.data.repeat_trials else "each optimizer's best trial"
    missing = [n for n in configured_optimizers(content.data) if n not in {r.optimizer for r in content.rows}]
    absent = f"\n\nConfigured but without any trial: {', '.join(missing)}." if missing else ""
    if not content.rows:
        return "## Summary per optimizer\n\nNo trial chose an optimizer yet." + absent
    epochs = ", ".join(map(str, content.epochs))
    return "\n\n".join(
        [
            "## Summary per optimizer",
            f"Rows are {what}, best first. Validation accuracy and loss after epochs {epochs}; `fit s` is the whole "
            "fit (validation included), `samples/s` the median epoch's training throughput." + absent,
            summary_table(content),
        ]
    )


def _curves(content: ReportContent, figures: Mapping[str, Path]) -> str:
    over = "its seeds" if content.data.repeat_trials else "its completed trials"
    return "\n\n".join(
        [
            "## Learning curves",
            f"Validation accuracy and loss per epoch: for each optimizer the median over {over}, the band their "
            "min–max.",
            _figure(figures, CURVES, "Validation accuracy and loss per epoch, per optimizer"),
        ]
    )


def _article(content: ReportContent) -> str:
    header = ["optimizer", "seeds"]
    for e in ARTICLE_EPOCHS:
        header += [f"ours @{e}", f"article @{e}", f"Δ pp @{e}"]
    rows = []
    for r in content.article:
        row = [r.optimizer, str(r.n)]
        for e in ARTICLE_EPOCHS:
            row += [fmt(r.ours[e]), fmt(r.article[e]), fmt(r.diff_pp(e), "+.2f")]
        rows.append(row)
    gaps = _article_gaps(content.setting)
    note = f"\n\nThis run differs from the article's setting: {'; '.join(gaps)}." if gaps else ""
    momentum = next(
        (
            t.params.get(OPTIMIZER_PARAM_PREFIX + "momentum")
            for t in content.data.trials
            if t.params.get(OPTIMIZER) == "momentum"
        ),
        None,
    )
    if momentum is not None:
        note += (
            f"\n\nThe momentum row is SGD with momentum {momentum}. The article does not state its value (Keras' SGD "
            "defaults to 0); its SGD and momentum rows differ by only 0.04 pp at epoch 10, which points to a far "
            "smaller momentum than the common 0.9, so expect this row to differ."
        )
    return (
        "## Against the article\n\nOur validation accuracy (median over seeds) beside the article's, at its epochs; "
        "Δ = ours − article in percentage points. `–`: that side has no number."
        + note
        + "\n\n"
        + md_table(header, rows)
    )


def _article_gaps(s: Setting) -> list[str]:
    """Where this study's recorded setting differs from the article's (an unrecorded one is not claimed either way)."""
    gaps = []
    if s.dataset not in (None, ARTICLE_DATASET):
        gaps.append(f"dataset {s.dataset} (the article: {ARTICLE_DATASET})")
    if s.defaults not in (None, KERAS_CONVENTION):
        gaps.append(f"defaults {s.defaults} (the article: {KERAS_CONVENTION})")
    if s.batch_sizes and s.batch_sizes != (ARTICLE_BATCH_SIZE,):
        gaps.append(f"batch size {', '.join(map(str, s.batch_sizes))} (the article: {ARTICLE_BATCH_SIZE})")
    if s.max_epochs is not None and s.max_epochs != ARTICLE_EPOCHS[-1]:
        gaps.append(f"{plural(s.max_epochs, 'epoch')} (the article: {ARTICLE_EPOCHS[-1]})")
    if s.train_samples and s.train_samples != (ARTICLE_TRAIN_SAMPLES,):
        images = "/".join(map(str, s.train_samples))
        gaps.append(f"{images} training images (the article: {ARTICLE_TRAIN_SAMPLES})")
    if s.validate_on_test is False:
        gaps.append("validated on a held-out split of the training set (the article: on the test set)")
    return gaps


def _lr(content: ReportContent, figures: Mapping[str, Path]) -> str:
    if not content.lr_findings:
        return "## Learning rate\n\nThis protocol searched no learning rate: every trial ran a fixed configuration."
    rows, warnings = [], []
    for f in content.lr_findings:
        b = f.best
        span = f"{f.lr_range[0]:.3g} – {f.lr_range[1]:.3g}" if f.lr_range else "–"
        rows.append(
            [
                f.optimizer,
                fmt(b.lr if b else None, ".3g"),
                fmt(b.batch_size if b else None, "d"),
                fmt(b.best_val_acc if b else None),
                span,
                f"**{EDGE_WARNING}**" if f.at_edge else "no",
            ]
        )
        if f.at_edge and b:
            warnings.append(f"- **{f.optimizer}**: {EDGE_WARNING} (best lr {b.lr:.3g} in {span}).")
    text = [
        "## Learning rate",
        md_table(["optimizer", "best lr", "batch", "best val acc", "searched", "at edge"], rows),
    ]
    if warnings:
        text.append("\n".join(warnings))
    text.append(_figure(figures, LR, "Validation accuracy against learning rate, per optimizer"))
    return "\n\n".join(text)


def _batch(content: ReportContent, figures: Mapping[str, Path]) -> str:
    if not content.batch_sizes:
        return "## Batch size\n\nNo completed searched trial: no batch-size effect to show."
    rows = []
    for name, cells in content.batch_cells.items():
        row = [name]
        for size in content.batch_sizes:
            cell = cells.get(size)
            row.append(f"{cell.best:.4f} / {cell.median:.4f} (n={cell.n})" if cell else "–")
        rows.append(row)
    return "\n\n".join(
        [
            "## Batch size",
            "Best / median validation accuracy of the completed searched trials at each batch size.",
            md_table(["optimizer", *(str(s) for s in content.batch_sizes)], rows),
            _figure(figures, BATCH, "Best and median validation accuracy per batch size"),
        ]
    )


def _milestones(content: ReportContent, figures: Mapping[str, Path]) -> str:
    rows = []
    for name, cells in content.milestones.items():
        row = [name]
        for th in MILESTONES:
            c = cells[th]
            where = f"{c.median_seconds:.1f} s, " if c.median_seconds is not None else ""
            row.append(f"{where}{c.median_epochs:g} ep ({c.reached}/{c.n})" if c.reached else f"– (0/{c.n})")
        rows.append(row)
    scope = "seeds" if content.data.repeat_trials else "trials"
    return "\n\n".join(
        [
            "## Time to reach 97 / 98 / 99 % validation accuracy",
            f"Median seconds (and epochs) among the {scope} that reached the threshold; (k/n): how many of the "
            f"{scope} that trained reached it.",
            md_table(["optimizer", *(f"{th:.0%}" for th in MILESTONES)], rows)
            if rows
            else "No trial trained an epoch.",
            _figure(figures, TIME, "Time to reach each validation accuracy threshold")
            if TIME in figures
            else f"_No {scope[:-1]} reached {MILESTONES[0]:.0%}: no figure._",
        ]
    )


def _significance(content: ReportContent, figures: Mapping[str, Path]) -> str:
    sig = content.significance
    if sig is None:
        return (
            "## Significance\n\nThis protocol trains each configuration once, with no repeated seeds, so no "
            "difference can be tested. Run `--protocol tuned` for seeds, confidence intervals and tests."
        )
    title = "## Final retraining on the test set" if sig.metric == "test accuracy" else "## Significance"
    rows = [
        [
            s.optimizer,
            str(s.n),
            fmt(s.mean),
            fmt(s.std),
            f"{s.ci_low:.4f} – {s.ci_high:.4f}" if s.ci_low is not None and s.ci_high is not None else "–",
        ]
        for s in sig.spreads
    ]
    parts = [
        title,
        f"{sig.metric.capitalize()} over the seeds: mean ± std, n, and the 95% confidence interval. {INTERVAL_NOTE}",
        md_table(["optimizer", "n", "mean", "std", "95% CI"], rows),
    ]
    if sig.comparisons:
        parts.append(method_note(sig.comparisons))
    parts += [
        "\n".join(f"- {sentence(c)}" for c in sig.comparisons) or "- Only one optimizer: nothing to compare.",
        summary_sentence(sig.comparisons),
    ]
    if sig.seeds_needed is not None:
        parts.append(seeds_sentence(sig.seeds_needed))
    parts.append(_figure(figures, SEEDS, f"{sig.metric} per seed"))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class DashboardInfo:
    """Where the dashboard note and figures went, for the report's instructions."""

    study: str  # the Optuna study carrying the note
    storage_url: str
    artifact_dir: Path | None  # None: a database server's study, which keeps the note only
    uploaded: tuple[str, ...] = ()  # file names of the figures uploaded
    error: str | None = None  # why the dashboard could not be updated


def _dashboard(info: DashboardInfo) -> str:
    if info.error:
        return f"## Optuna dashboard\n\nNot updated: {info.error}"
    command = f"{bin_dir() / 'optuna-dashboard'} {info.storage_url}"
    if info.artifact_dir:
        command += f" --artifact-dir {info.artifact_dir}"
    figures = f" and the figure(s) {', '.join(f'`{f}`' for f in info.uploaded)}" if info.uploaded else ""
    return (
        f"## Optuna dashboard\n\nThe study `{info.study}` carries a summary note{figures} (under Artifacts). Open "
        f"them with\n\n```\n{command} --port 8080\n```\n\nthen http://127.0.0.1:8080 and the study `{info.study}`."
        + ("" if info.artifact_dir else " (A database server's study keeps no figure: only the note.)")
    )


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def importance_section(imp: Importance | None) -> str:
    """What explains the searched trials' accuracy: the learning rate, once put on one axis for all optimizers."""
    title = "## What explains the accuracy"
    if imp is None:
        return f"{title}\n\nFewer than 4 completed searched trials: nothing to apportion."
    rows = [
        ["learning rate (log10 of lr / the optimizer's default; parabola R²)", _share(imp.lr)],
        ["optimizer (η²)", _share(imp.optimizer)],
        ["batch size (η²)", _share(imp.batch_size)],
    ]
    per = [[name, str(n), _share(r2)] for name, (n, r2) in imp.lr_per_optimizer.items()]
    return "\n\n".join(
        [
            title,
            f"Share of the variance of the best validation accuracy over {imp.n} completed searched trials. Optuna's "
            "importance panel cannot see this: each optimizer's `lr_<name>` is a separate parameter, set in a few "
            "trials only. Shares overlap where the search varied several choices together.",
            md_table(["choice", "share of variance"], rows),
            "Within each optimizer, the share its own learning rate explains (R² of a parabola in log lr):",
            md_table(["optimizer", "trials", "lr share"], per),
        ]
    )


def render(
    content: ReportContent,
    figures: Mapping[str, Path],
    dashboard: DashboardInfo,
    now: datetime,
    export: Export | None = None,
) -> str:
    """report.md; ``export``: which of the winner's exported files the report's folder holds (``check_export``)."""
    data = content.data
    parts = [_header(data, content.setting, now), _summary(content)]
    metric = Definition.read(data.definition).metric
    winner = winner_section(data, content.rows, export or Export(why_not="no report folder was given"), metric)
    if winner:
        parts.append(winner)
    parts.append(_curves(content, figures))
    if data.protocol == SEED_PROTOCOL:
        parts.append(_article(content))
    parts += [
        _lr(content, figures),
        importance_section(content.importance),
        _batch(content, figures),
        _milestones(content, figures),
        _significance(content, figures),
        _dashboard(dashboard),
        "## How to read this\n\n"
        + how_to_read(content.setting)
        + "\n\nBands in the curves span min–max; pp = percentage points; `–` = no data.",
        "## Files\n\n- `trials.csv`: one row per trial of every Optuna study above.\n- `figures/`: the PNG figures.\n"
        f"- `report.md`, `trials.csv` and `figures/` (with the winner's `best.toml` and checkpoint, when this folder "
        f"holds them) are logged to the MLflow parent run `{data.parent_run_id}` under `report/`, replacing an "
        "earlier report's.",
    ]
    return "\n\n".join(parts) + "\n"
