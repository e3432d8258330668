"""The architecture as tests: which package may import which, read from the source (every import counts: the
module's own, those inside functions and those only for type checking)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = frozenset(sys.stdlib_module_names)

# The layers of ``study``, each with the layers it may import (the ground floor: schema and secrets). The top, which
# may import every layer and which no layer imports: the commands (run, orchestrate, ui, command) and the benchmark,
# which measures whole studies.
GROUND = {"study.schema", "study.secrets"}
LAYERS: dict[str, set[str]] = {
    "study.config": GROUND,
    "study.records": GROUND | {"study.config"},
    "study.design": GROUND | {"study.config", "study.records", "study.training"},
    "study.training": GROUND,
    "study.workers": GROUND | {"study.config", "study.records", "study.design", "study.training"},
    "study.report": GROUND | {"study.config", "study.records", "study.design"},
}
PRIVATE_HOME = "study.records.optuna_internals"  # the one module that touches Optuna's private API


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute; ``from X import Y`` yields X and X.Y (Y may be a submodule)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _layer(module: str) -> str | None:
    """The ``study`` layer a module belongs to: a subpackage, a ground-floor module, or None for the top."""
    if module in GROUND:
        return module
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)


def _study_modules() -> set[str]:
    return {_module_name(p) for p in _modules("study")}


def test_optimizers_import_nothing_but_torch() -> None:
    for path in _modules("optimizers"):
        for module in _imports(path):
            top = module.split(".")[0]
            assert top in STDLIB or top in ("torch", "optimizers"), f"{path.relative_to(ROOT)} imports {module}"


def test_models_never_import_the_study() -> None:
    for path in _modules("models"):
        for module in _imports(path):
            top = module.split(".")[0]
            assert top not in ("study", "optuna", "mlflow"), f"{path.relative_to(ROOT)} imports {module}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    known = _study_modules()
    for path in _modules(layer):
        for module in _imports(path):
            if module not in known:
                continue
            target = _layer(module)
            if target is None:
                pytest.fail(f"{path.relative_to(ROOT)} imports {module}, a top-level command")
            assert target == layer or target in LAYERS[layer], f"{path.relative_to(ROOT)} imports {module} ({target})"


def test_the_ground_floor_imports_no_layer() -> None:
    known = _study_modules()
    for module in GROUND:
        path = ROOT / (module.replace(".", "/") + ".py")
        assert not [m for m in _imports(path) if m in known and m not in GROUND], module


def test_training_knows_neither_optuna_nor_mlflow() -> None:
    for path in _modules("study.training"):
        for module in _imports(path):
            assert module.split(".")[0] not in ("optuna", "mlflow"), f"{path.relative_to(ROOT)} imports {module}"


def test_no_import_cycle_among_the_study_modules() -> None:
    known = _study_modules()
    graph = {
        _module_name(p): {m for m in _imports(p) if m in known and m != _module_name(p)} for p in _modules("study")
    }
    # a package's __init__ re-exporting its own modules is not a cycle: an edge into a package is an edge to its
    # __init__, which imports downward only
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node) :] + [node]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            if not node.startswith(nxt + ".") and not nxt.startswith(node + "."):  # package <-> its own module
                visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])


_PRIVATE_ATTRIBUTES = ("_storage", "_trial_id")


def test_only_one_module_touches_optunas_private_api() -> None:
    for path in _modules("study"):
        if _module_name(path) == PRIVATE_HOME:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                assert node.attr not in _PRIVATE_ATTRIBUTES, f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                hidden = [p for p in (node.module or "").split(".") if p.startswith("_")]
                assert not private and not hidden, f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}"
