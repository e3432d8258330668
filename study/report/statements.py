"""The report's sentences about how the study ran, each built from its ``Setting`` (the records), never a constant.

A protocol has presets (the seed protocol's are the article's: Keras defaults, batch 64, 10 epochs), but any of
them may be overridden when the study is created, and a sentence that states the preset would then be false.
So every number and name below comes from the trials' records or the study's recorded definition, and what was
not recorded is said to be unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from study.config.console import plural
from study.report.setting import Setting
from study.schema import KERAS_CONVENTION, SEARCH, SEED_PROTOCOL, TUNED

__all__ = [
    "ADAPTIVE_SAMPLERS",
    "NO_PRUNER",
    "dataset_line",
    "how_to_read",
    "protocol_line",
    "seed_list",
    "seeds_line",
    "training_line",
]

NO_PRUNER = "none"  # --pruner none (study.config.fields.PRUNERS; a test holds them together)
ADAPTIVE_SAMPLERS = ("tpe", "gp")  # of study.config.fields.SAMPLERS: those that spend more trials where trials did well


def seed_list(seeds: Sequence[int]) -> str:
    """``0, 1`` or ``10000–10004``: consecutive seeds (three or more) as a range."""
    ordered = sorted(seeds)
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(map(str, ordered))


def _or_unknown(value: object, what: str) -> str:
    return f"{what} not recorded" if value is None else f"{value} {what}"


def _pruner(s: Setting) -> str:
    return "no pruner" if s.pruner == NO_PRUNER else _or_unknown(s.pruner, "pruner")


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def protocol_line(s: Setting) -> str:
    """What the protocol did, with the sampler and pruner it did it with."""
    how = "" if s.sampler is None and s.pruner is None else f" ({_or_unknown(s.sampler, 'sampler')}, {_pruner(s)})"
    if s.protocol == SEARCH:
        names = ", ".join(s.optimizers) or "no optimizer recorded"
        return f"search — one Optuna search{how} over the optimizer ({names}), its learning rate and the batch size"
    if s.protocol == SEED_PROTOCOL:
        return "seed — each optimizer at one fixed configuration, trained once per seed (the article's protocol)"
    if s.protocol == TUNED:
        return (
            f"tuned — a search of each optimizer in its own sub-study{how}, then each one's best configuration "
            f"retrained with the same seeds and tested once on {_test_set(s)}"
        )
    return s.protocol


def _test_set(s: Setting) -> str:
    if s.validate_on_test:
        return "the test set (also the validation set here: --validate-on-test, so it is not held out)"
    return "the held-out test set"


def _epochs(s: Setting) -> str:
    if s.max_epochs is None:
        return "epochs per trial not recorded"
    n = plural(s.max_epochs, "epoch")
    if s.protocol == SEED_PROTOCOL or s.pruner in (None, NO_PRUNER):
        return f"{n} per trial"
    stops = f"(the {s.pruner} pruner stops poor trials early)"
    return f"up to {n} per search trial {stops}, {n} per retraining" if s.protocol == TUNED else f"up to {n} {stops}"


def _batches(s: Setting) -> str:
    sizes = ", ".join(map(str, s.batch_sizes))
    if not sizes:
        return "batch size not recorded"
    return f"batch {sizes}" if s.protocol == SEED_PROTOCOL else f"batch sizes searched: {sizes}"


def _defaults(s: Setting) -> str:
    pinned = ", ".join(f"{k} = {v:g}" for k, v in s.fixed.items() if v is not None)
    defaults = _or_unknown(s.defaults, "defaults")
    if s.protocol == SEED_PROTOCOL:
        text = f"every optimizer at its {defaults}"
    else:
        text = f"{defaults} for the hyperparameters not searched"
    return text + (f", with {pinned} pinned (--fixed)" if pinned else "")


def training_line(s: Setting) -> str:
    """Epochs, batch sizes and the defaults of what is not searched."""
    return f"{_epochs(s)}; {_batches(s)}; {_defaults(s)}"


def seeds_line(s: Setting) -> str:
    """Which seeds ran: a searched trial's own seed, or the seeds of the repeated configurations."""
    if s.protocol == SEARCH:
        base = "the base seed is not recorded" if s.base_seed is None else f"base seed {s.base_seed} + its number"
        return f"each trial trains with its own seed ({base})"
    what = "final retraining: " if s.protocol == TUNED else ""
    asked = "" if s.seeds_asked is None else f"; {s.seeds_asked} asked per optimizer"
    if not s.seeds:
        return f"{what}no repeated run completed yet{asked}"
    shared = s.shared_seeds
    if shared is not None:
        same = "" if s.seeds_asked in (None, len(shared)) else asked
        return f"{what}{seed_list(shared)} for every optimizer ({len(shared)} each{same})"
    each = "; ".join(f"{name} {seed_list(seeds)}" for name, seeds in s.seeds.items())
    return f"{what}{each} (not the same seeds for every optimizer{asked})"


def dataset_line(s: Setting) -> str:
    """The data: the dataset, how many images trained, and what validated them."""
    counted = "/".join(map(str, s.train_samples))
    images = f"{counted} training images" if counted else "training images not recorded"
    if s.validate_on_test is None:
        validated = "validation set not recorded"
    elif s.validate_on_test:
        validated = "validated on the official test set"
    else:
        split = "" if s.split_seed is None else f" (split seed {s.split_seed})"
        validated = f"validated on a held-out split of the training set{split}"
    return f"{s.dataset or 'dataset not recorded'}, {images}; {validated}"


def _search_reading(s: Setting) -> str:
    if s.sampler is None:
        favours = "The sampler is not recorded"
    elif s.sampler in ADAPTIVE_SAMPLERS:
        favours = f"The {s.sampler} sampler spends more trials on optimizers that did well early"
    else:
        favours = f"The {s.sampler} sampler does not follow early winners"
    counts = set(s.search_trials.values())
    spread = (
        f"the number of trials per optimizer differs ({_counts(s.search_trials)}), and an optimizer with few trials "
        "had fewer chances to find a good learning rate"
        if len(counts) > 1
        else f"each optimizer ran {plural(counts.pop(), 'trial')}"
        if counts
        else "no trial ran to its end yet"
    )
    return (
        f"{favours}; {spread}. Each row of the summary is that optimizer's single best trial, chosen on "
        "the same validation set it is scored on: an optimistic number with no seed-to-seed spread. For a fair "
        "comparison run `python -m study.run --protocol tuned` (equal budget per optimizer, several seeds, a "
        "held-out test)."
    )


def _seed_reading(s: Setting) -> str:
    keras = s.defaults == KERAS_CONVENTION
    pinned = ", ".join(k for k, v in s.fixed.items() if v is not None)
    text = f"Nothing is tuned here: every optimizer runs at its {_or_unknown(s.defaults, 'defaults')}"
    text += ", as in the article" if keras else ""
    text += f" (with {pinned} pinned)" if pinned else ""
    text += ", so this compares default settings rather than optimizers at their best"
    text += " (plain SGD and Adadelta suffer most from Keras' small default learning rates). " if keras else ". "
    if any(len(seeds) > 1 for seeds in s.seeds.values()):
        return text + "Rows are medians over the seeds; a difference smaller than the seed-to-seed spread is noise."
    return text + (
        "Each row is a single run (one seed): the seed-to-seed spread, against which a difference would be judged, "
        "is unknown."
    )


def _tuned_reading(s: Setting) -> str:
    counts = set(s.search_trials.values())
    if len(counts) == 1:
        search = f"Each optimizer had the same number of search trials ({counts.pop()}) in its own sub-study"
    else:
        search = (
            f"The optimizers had {_counts(s.search_trials) or 'no'} search trials, each in its own sub-study (not "
            "yet an equal budget: some of it did not run)"
        )
    shared = s.shared_seeds
    seeds = plural(len(shared), "seed") if shared is not None else "its seeds"
    return (
        f"{search}; the search figures show how those went. Its best configuration was then retrained with {seeds} "
        f"and evaluated once on {_test_set(s)}: the summary and the significance statement use those seeds, which "
        "makes this the protocol to decide with."
    )


def how_to_read(s: Setting) -> str:
    """What the protocol's numbers mean, and what they do not."""
    if s.protocol == SEED_PROTOCOL:
        return _seed_reading(s)
    if s.protocol == TUNED:
        return _tuned_reading(s)
    return _search_reading(s)
