"""`make bench`: run every benchmark in bench/, print one table each, write the Markdown.

    python -m bench                  # every benchmark, the sizes the README records
    python -m bench --quick          # smaller sizes (a smoke run)
    python -m bench --only ingest    # some of them (comma-separated module names)
    python -m bench --update-readme  # put bench/results/latest.md into README.md

A benchmark is any module in bench/ with ``run(quick: bool) -> list[dict]``: one table, one row
per dict (columns in order of first appearance); its docstring's first line is the title.
The results go to bench/results/latest.md (git-ignored), headed by the date, the machine's CPU
count and model, and the Python version; ``--update-readme`` copies that between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of README.md's Performance section.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import bench
from bench.common import REPO_ROOT, cpu_count, markdown_table

RESULTS = REPO_ROOT / "bench" / "results" / "latest.md"
README = REPO_ROOT / "README.md"
START_MARK = "<!-- bench:start -->"
END_MARK = "<!-- bench:end -->"
#: Modules in bench/ that are helpers, not benchmarks.
HELPERS = frozenset({"common", "bare_client", "synthetic"})

Runner = Callable[[bool], list[dict[str, Any]]]


def discover() -> dict[str, ModuleType]:
    """Every module of the bench package that has a ``run(quick)`` function, by name."""
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in HELPERS:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            found[info.name] = module
    return found


def title_of(name: str, module: ModuleType) -> str:
    doc = (module.__doc__ or "").strip()
    first = doc.splitlines()[0].strip() if doc else name
    return first.rstrip(".")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(quick: bool) -> str:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    sizes = "`python -m bench --quick` (smaller sizes)" if quick else "`make bench`"
    return (
        f"Measured {today} with {sizes} on {cpu_count()} CPU(s) ({cpu_model()}), "
        f"Python {platform.python_version()}, {platform.system()}."
    )


def run_all(names: list[str] | None, quick: bool) -> tuple[str, bool]:
    modules = discover()
    if names:
        unknown = sorted(set(names) - set(modules))
        if unknown:
            raise SystemExit(f"no benchmark called {', '.join(unknown)}; have {sorted(modules)}")
        modules = {name: modules[name] for name in names}
    sections = [header(quick)]
    ok = True
    for name, module in modules.items():
        title = title_of(name, module)
        print(f"\n## {title} (bench.{name})", flush=True)
        started = time.monotonic()
        runner: Runner = module.run
        try:
            table = markdown_table(runner(quick))
        except Exception as error:
            ok = False
            traceback.print_exc()
            table = f"**failed:** `{type(error).__name__}: {error}`"
        took = time.monotonic() - started
        print(table, flush=True)
        print(f"({took:.0f} s)", flush=True)
        sections.append(f"#### {title}\n\n`bench.{name}`, {took:.0f} s\n\n{table}")
    return "\n\n".join(sections) + "\n", ok


def update_readme(results: Path = RESULTS, readme: Path = README) -> None:
    if not results.exists():
        raise SystemExit(f"{results} does not exist: run `make bench` first")
    text = readme.read_text()
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        raise SystemExit(f"README.md has no {START_MARK} … {END_MARK} block")
    block = f"{START_MARK}\n{results.read_text().strip()}\n{END_MARK}"
    readme.write_text(text[:start] + block + text[end + len(END_MARK) :])
    print(f"Updated the Performance section of {readme} from {results}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", help="comma-separated benchmark modules (default: all)")
    parser.add_argument(
        "--update-readme", action="store_true", help="copy the latest results into README.md"
    )
    args = parser.parse_args(argv)
    if args.update_readme:
        update_readme()
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    markdown, ok = run_all(names, args.quick)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(markdown)
    print(
        f"\nWrote {RESULTS.relative_to(REPO_ROOT)}; "
        "`python -m bench --update-readme` puts it in README.md"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
