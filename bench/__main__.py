"""`make bench`: run every benchmark in bench/, print one table each, write the Markdown.

    python -m bench                  # every benchmark, the sizes docs/performance.md records
    python -m bench --quick          # smaller sizes (a smoke run)
    python -m bench --only ingest    # some of them (comma-separated module names)
    python -m bench --update-readme  # put bench/results/latest.md into docs/performance.md
    python -m bench --only ingest --results bench/results/mine.md  # (and --update-readme)

A benchmark is any module in bench/ with ``run(quick: bool) -> list[dict]``: one table, one row
per dict (columns in order of first appearance); its docstring's first line is the title.
The results go to bench/results/latest.md (git-ignored), headed by the date, the machine's CPU
count and model, and the Python version; ``--update-readme`` copies that between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of docs/performance.md,
replacing only the tables of the benchmarks that ran (``--only``) and keeping the others.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import re
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
#: The results block used to live in README.md; the option keeps its name.
README = REPO_ROOT / "docs" / "performance.md"
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


def header(quick: bool, names: list[str] | None = None) -> str:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    only = f" --only {','.join(names)}" if names else ""
    if quick:
        sizes = f"`python -m bench --quick{only}` (smaller sizes)"
    else:
        sizes = f"`python -m bench{only}`" if only else "`make bench`"
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
    sections = [header(quick, names)]
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


_SECTION = re.compile(r"^`bench\.(\w+)`", re.MULTILINE)


def split_block(markdown: str) -> tuple[list[str], dict[str, str]]:
    """A results block as (its header lines, {benchmark name: its ``#### …`` section})."""
    head, *sections = re.split(r"^(?=#### )", markdown.strip(), flags=re.MULTILINE)
    named: dict[str, str] = {}
    for section in sections:
        found = _SECTION.search(section)
        named[found.group(1) if found else section] = section.strip()
    return [line for line in head.strip().splitlines() if line.strip()], named


def merge_results(old: str, new: str) -> str:
    """``new`` results (maybe of ``--only`` some benchmarks) over the ``old`` block: sections
    of benchmarks that did not run are kept, in their place, with the header that dates
    them; a run covering every old section replaces the block."""
    old_head, old_sections = split_block(old)
    new_head, new_sections = split_block(new)
    if not new_sections or set(old_sections) <= set(new_sections):
        return new.strip()

    def how(line: str) -> str:  # "Measured <date> with <how>": the part after the date
        return line.split(" with ", 1)[-1]

    replaced = {how(line) for line in new_head}
    head = [line for line in old_head if how(line) not in replaced] + new_head
    merged = {**old_sections, **new_sections}  # old order, new sections appended
    return "\n\n".join(["\n\n".join(head), *merged.values()])


def update_readme(results: Path = RESULTS, readme: Path = README) -> None:
    if not results.exists():
        raise SystemExit(f"{results} does not exist: run `make bench` first")
    text = readme.read_text()
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        raise SystemExit(f"{readme} has no {START_MARK} … {END_MARK} block")
    current = text[start + len(START_MARK) : end]
    block = f"{START_MARK}\n{merge_results(current, results.read_text())}\n{END_MARK}"
    readme.write_text(text[:start] + block + text[end + len(END_MARK) :])
    print(f"Updated the results block of {readme} from {results}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", help="comma-separated benchmark modules (default: all)")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="copy the latest results into docs/performance.md",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help=f"the results file to write or read (default: {RESULTS.relative_to(REPO_ROOT)}; "
        "another name keeps two people's runs in one tree apart)",
    )
    args = parser.parse_args(argv)
    results: Path = args.results.resolve()
    if args.update_readme:
        update_readme(results)
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    markdown, ok = run_all(names, args.quick)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(markdown)
    option = "" if results == RESULTS else f" --results {results}"
    print(f"\nWrote {results}; `python -m bench --update-readme{option}` puts it in {README}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
