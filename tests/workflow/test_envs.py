"""Every rule's conda env declares the third-party packages its code imports.

For each rule of workflow/rules/*.smk: its ``conda:`` env and the ``python -m sclong...`` modules its shell
runs (plus the module ``sclong.train.launch`` starts under torchrun). The imports of those modules are
followed through sclong's own modules (AST, imports inside functions included; imports guarded by
``except ImportError`` and ``if TYPE_CHECKING`` are optional and left out), and every third-party top-level
import is mapped to its distribution (``importlib.metadata.packages_distributions``) and then to its
conda-forge name. Each must be declared directly in the env (conda dependencies or the pip section);
relying on a transitive dependency is not accepted.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import yaml

from sclong.figures import FIGURES
from sclong.tasks import TASK_MODULES
from sclong.tasks.drugs.demo_data import SIMULATORS
from sclong.train import launch

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "workflow" / "rules"
SRC = REPO / "src"
# conda-forge names of distributions whose conda package is named differently (normalised names).
CONDA_NAMES = {
    "torch": "pytorch",
    "torch-geometric": "pytorch-geometric",
    "tiledbsoma": "tiledbsoma-py",
    "xxhash": "python-xxhash",
}
GPU_ENV = "torch.yaml"
TORCH_PACKAGES = {"pytorch", "torch", "pytorch-geometric", "torch-geometric", "performer-pytorch"}
RULE_RE = re.compile(r"^\s*rule ?(\w*):\n(.*?)(?=^\s*rule ?\w*:|\Z)", re.MULTILINE | re.DOTALL)
NAME_RE = re.compile(r"^\s*name:\s*\n\s*(.+)$", re.MULTILINE)  # a rule defined in a loop names itself
CONDA_RE = re.compile(r"^\s*conda:\s*\n\s*\"([^\"]+)\"", re.MULTILINE)
MODULE_RE = re.compile(r"python -m (sclong(?:\.\w+)*)")
SPEC_NAME_RE = re.compile(r"^([A-Za-z0-9_.\-]+)")
# Modules that import others by name at run time: the task runner its tasks, the figure maker its figures,
# the drug tasks' demo data maker its simulators.
DYNAMIC = (
    ("sclong.tasks.run", tuple(TASK_MODULES.values())),
    ("sclong.tasks.drugs.demo_data", tuple(SIMULATORS.values())),
    ("sclong.figures.make", tuple(spec.module for spec in FIGURES.values())),
)


def normalise(name: str) -> str:
    """A package name compared across PyPI and conda: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def rules() -> dict[str, tuple[str | None, list[str]]]:
    """Rule name -> (its conda env file name or None, the sclong modules its shell runs)."""
    found: dict[str, tuple[str | None, list[str]]] = {}
    for smk in sorted(RULES_DIR.glob("*.smk")):
        for match in RULE_RE.finditer(smk.read_text()):
            name, body = match.groups()
            name = name or NAME_RE.search(body).group(1).strip()
            conda = CONDA_RE.search(body)
            modules = MODULE_RE.findall(body)
            if launch.__name__ in modules:
                modules.append(launch.MODULE)
            modules += [module for runner, targets in DYNAMIC for module in targets if runner in modules]
            found[name] = (Path(conda.group(1)).name if conda else None, modules)
    return found


def module_file(module: str) -> Path | None:
    """The source file of a sclong module (a package's ``__init__.py``), or None when there is none."""
    base = SRC.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether an import sits in a ``try`` that catches ImportError or under ``if TYPE_CHECKING``."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            caught = {ast.unparse(h.type) for h in parent.handlers if h.type is not None}
            if caught & {"ImportError", "ModuleNotFoundError"}:
                return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        child, parent = parent, parents.get(parent)
    return False


@cache
def direct_imports(module: str) -> frozenset[str]:
    """Absolute names of the modules that ``module`` imports (not optionally), relative imports resolved."""
    path = module_file(module)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or _optional(node, parents):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import submodule``
    return frozenset(names)


def third_party_imports(modules: list[str]) -> dict[str, str]:
    """Top-level third-party import name -> the sclong module importing it, over everything ``modules``
    import through sclong (packages' ``__init__`` modules included)."""
    seen: set[str] = set()
    todo = list(modules)
    found: dict[str, str] = {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        for name in direct_imports(module):
            top = name.partition(".")[0]
            if top == "sclong":
                todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.setdefault(top, module)
    return found


@cache
def installed_distributions() -> dict[str, list[str]]:
    """Top-level import name -> the installed distributions providing it."""
    return dict(importlib.metadata.packages_distributions())


def conda_name(import_name: str) -> str:
    """The normalised conda-forge name of the distribution providing a top-level import."""
    distributions = installed_distributions().get(import_name)
    assert distributions, f"no installed distribution provides {import_name!r}; install the project's extras"
    name = normalise(distributions[0])
    return CONDA_NAMES.get(name, name)


def spec_name(spec: str) -> str:
    """The normalised package name of a conda or pip spec (``pytorch[build=...]``, ``numpy>=1.26``)."""
    match = SPEC_NAME_RE.match(spec)
    assert match, f"unparsable spec {spec!r}"
    return normalise(match.group(1))


def env(name: str) -> dict:
    """The parsed conda env file ``envs/<name>``."""
    return yaml.safe_load((REPO / "envs" / name).read_text())


def conda_specs(environment: dict) -> Iterator[str]:
    """The conda dependency specs of an env (strings), without its pip section."""
    return (dep for dep in environment["dependencies"] if isinstance(dep, str))


def declared(environment: dict) -> set[str]:
    """Normalised names of every package an env declares, conda and pip."""
    names = set()
    for dep in environment["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            names.add(spec_name(spec))
    return names


RULES = rules()
CONDA_RULES = sorted(name for name, (conda, _) in RULES.items() if conda)


def test_rules_were_parsed() -> None:
    """The parser sees the workflow's rules, and every rule that runs sclong code names a conda env."""
    assert {"gene_table", "corpus_shards", "pretrain", "random_leg", "download_source"} <= set(RULES)
    for name, (conda, modules) in RULES.items():
        assert bool(conda) == bool(modules), f"rule {name}: conda env {conda!r}, modules {modules}"


@pytest.mark.parametrize("rule", CONDA_RULES)
def test_rule_env_declares_its_imports(rule: str) -> None:
    """Every third-party package the rule's modules import (through sclong) is declared in its env."""
    conda, modules = RULES[rule]
    assert conda is not None
    for module in modules:
        assert module_file(module) is not None, f"rule {rule} runs {module}, which does not exist"
    needed = {name: (conda_name(name), via) for name, via in third_party_imports(modules).items()}
    have = declared(env(conda))
    missing = sorted(
        f"{package} (import {name} in {via})" for name, (package, via) in needed.items() if package not in have
    )
    assert not missing, f"envs/{conda} (rule {rule}) lacks: {', '.join(missing)}"


def test_import_walk_follows_sclong_imports() -> None:
    """The walk reaches third-party imports two sclong modules deep and through launch's torchrun target."""
    imports = third_party_imports(["sclong.train.launch", launch.MODULE])
    assert {"torch", "numpy", "performer_pytorch"} <= set(imports)
    assert "tensorboard" not in imports  # imported inside ``except ImportError``: optional


def test_gpu_env_pins_a_cuda_pytorch_build() -> None:
    """The GPU env asks for a CUDA build of PyTorch by build string (``cuda*``), as conda-forge documents,
    with a CUDA major version; the other envs do not pull PyTorch at all."""
    [pytorch] = [spec for spec in conda_specs(env(GPU_ENV)) if spec_name(spec) == "pytorch"]
    build = re.search(r"build\s*=\s*['\"]?([^'\",\]]+)|^pytorch\s*=\s*[^=\s]+\s*=\s*(\S+)$", pytorch)
    assert build and (build.group(1) or build.group(2)).startswith("cuda"), pytorch
    assert "cuda-version" in map(spec_name, conda_specs(env(GPU_ENV)))
    for other in sorted({conda for conda, _ in RULES.values() if conda and conda != GPU_ENV}):
        pulled = declared(env(other)) & TORCH_PACKAGES
        assert not pulled, f"envs/{other} declares {pulled}"
