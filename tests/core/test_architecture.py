"""The import rules of docs/architecture.md, checked on the source (``ast``).

Every import counts: at the top, inside a function (lazy imports) and under
``if TYPE_CHECKING:``. The rules:

1. the core (``bot/``) imports no feature (``cogs``);
2. a feature imports another feature only through its package (``cogs.<other>``, whose
   ``__init__`` exports the public services), never its repository, cog or other modules;
3. pure modules import neither discord nor the store: only the standard library, numerical
   libraries and other pure modules;
4. the running bot (``bot/``, ``cogs/``) never imports the sandbox, the tests or the benchmarks,
   and the demo only from the CLI's ``demo`` command.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Pure modules: no I/O, no discord, no store; ``now`` is passed in. Keep docs/architecture.md's
#: list in step with this one.
PURE_MODULES = frozenset(
    {
        "bot.calendar",
        "bot.guild_model",
        "bot.permissions",
        "bot.roles",
        "bot.schedule_math",
        "bot.text",
        "cogs.coffee_chats.matcher",
        "cogs.coffee_chats.matcher.candidates",
        "cogs.coffee_chats.matcher.exact",
        "cogs.coffee_chats.matcher.model",
        "cogs.coffee_chats.matcher.solve",
        "cogs.coffee_chats.texts",
        "cogs.coffee_shop.rules",
        "cogs.course.checklist",
        "cogs.digest.rules",
        "cogs.digest.not_arrived",
        "cogs.digest.tally",
        "cogs.mentors.assign",
        "cogs.mentors.rules",
        "cogs.mentors.texts",
        "cogs.nudges.rules",
        "cogs.profiles.rules",
        "cogs.prompts.rules",
        "cogs.roster.codes",
        "cogs.roster.csv_formats",
        "cogs.roster.rules",
        "cogs.roster.texts",
    }
)
#: Third-party packages a pure module may use (computation only).
PURE_THIRD_PARTY = frozenset({"numpy", "scipy", "pymatching", "rustworkx", "threadpoolctl"})
#: Not part of the running bot.
DEV_PACKAGES = ("sandbox", "demo", "tests", "bench")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it is."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # ``from cogs.x import service`` imports the module cogs.x.service.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if (root / Path(*candidate.split("."))).with_suffix(".py").exists():
                    yield node.lineno, candidate


def sources(root: Path, *packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (root / package).rglob("*.py"))


def is_in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def feature_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "cogs" and len(parts) > 1 else None


def core_violations(root: Path = ROOT) -> list[str]:
    return [
        f"{module_name(path, root)}:{line} imports {name}"
        for path in sources(root, "bot")
        for line, name in imports_of(path, root)
        if is_in(name, "cogs")
    ]


def feature_violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in sources(root, "cogs"):
        own = feature_of(module_name(path, root))
        for line, name in imports_of(path, root):
            other = feature_of(name)
            if other is None or other == own:
                continue
            if name != f"cogs.{other}":
                found.append(f"{module_name(path, root)}:{line} imports {name}")
    return found


def pure_violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in sources(root, "bot", "cogs"):
        module = module_name(path, root)
        if module not in PURE_MODULES:
            continue
        for line, name in imports_of(path, root):
            top = name.split(".")[0]
            if top in ("bot", "cogs"):
                if name not in PURE_MODULES:
                    found.append(f"{module}:{line} imports {name}")
            elif top in PURE_THIRD_PARTY:
                continue
            elif top not in STDLIB:
                found.append(f"{module}:{line} imports {name}")
    return found


def dev_violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in sources(root, "bot", "cogs"):
        module = module_name(path, root)
        for line, name in imports_of(path, root):
            if module == "bot.cli" and name == "demo.run":
                continue  # `cohortbot demo`, imported inside the command only
            if any(is_in(name, package) for package in DEV_PACKAGES):
                found.append(f"{module}:{line} imports {name}")
    return found


STDLIB = frozenset(__import__("sys").stdlib_module_names) | {"__future__"}


def test_the_core_imports_no_feature() -> None:
    assert core_violations() == []


def test_features_use_each_other_only_through_the_package() -> None:
    assert feature_violations() == []


def test_pure_modules_import_neither_discord_nor_the_store() -> None:
    assert pure_violations() == []


def test_the_running_bot_imports_no_dev_tooling() -> None:
    assert dev_violations() == []


def test_every_pure_module_exists() -> None:
    paths = {m: ROOT / Path(*m.split(".")) for m in PURE_MODULES}
    missing = [
        m
        for m, path in paths.items()
        if not (path.with_suffix(".py").exists() or (path / "__init__.py").exists())
    ]
    assert missing == []


#: (file, a forbidden import) -> (the rule that must catch it, an allowed import there)
PROBES = {
    ("cogs/introductions/probe.py", "from cogs.nudges.repository import X"): (
        feature_violations,
        "from cogs.nudges import NudgeEngine",
    ),
    ("cogs/introductions/probe.py", "from ..nudges import cog"): (
        feature_violations,
        "from . import probe",
    ),
    ("cogs/introductions/probe.py", "import sandbox.harness"): (dev_violations, "import json"),
    ("bot/probe.py", "from cogs.nudges import NudgeEngine"): (core_violations, "import bot"),
    ("cogs/prompts/rules.py", "import discord"): (pure_violations, "import numpy"),
    ("cogs/prompts/rules.py", "from bot.store.db import Database"): (
        pure_violations,
        "from bot.text import chunk_lines",
    ),
}


@pytest.mark.parametrize(("where", "source"), list(PROBES))
def test_the_rules_catch_an_import_hidden_in_a_function(
    tmp_path: Path, where: str, source: str
) -> None:
    # The checks can fail: an import inside a function under TYPE_CHECKING is still found.
    for package in ("bot", "cogs", "cogs/introductions", "cogs/nudges", "cogs/prompts"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "cogs/nudges/cog.py").write_text("", encoding="utf-8")
    check, allowed = PROBES[(where, source)]
    hidden = f"def f():\n    if TYPE_CHECKING:\n        {source}\n"
    (tmp_path / where).write_text(f"from typing import TYPE_CHECKING\n\n{hidden}", "utf-8")
    assert len(check(tmp_path)) == 1
    (tmp_path / where).write_text(f"{allowed}\n", encoding="utf-8")
    assert check(tmp_path) == []
