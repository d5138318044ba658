"""What the bot imports at start stays light: the matcher's numerical stack (numpy, rustworkx,
scipy) is imported only when a round is built (so memory stays near a bare client's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "rustworkx", "scipy")

PROBE = """
import importlib, json, sys
import bot.cli, bot.app, bot.client
for name in bot.client.EXTENSIONS:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def loaded_after_start_imports() -> list[str]:
    code = PROBE.format(heavy=repr(set(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_starting_the_bot_does_not_import_the_matchers_numerical_stack() -> None:
    assert loaded_after_start_imports() == []


def test_the_probe_sees_a_heavy_import() -> None:
    # The probe itself works: importing the matcher does load numpy.
    code = "import sys, cogs.coffee_chats.matcher; print('numpy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "True"


def test_a_small_odd_round_does_not_import_scipy_optimize_or_sparse() -> None:
    # The exact search needs only scipy's compiled assignment solver: importing the
    # scipy.optimize (or scipy.sparse) package would add ~0.3 s to the first round of a run.
    code = (
        "import sys\n"
        "from tests.support.matching import make_students, request\n"
        "from cogs.coffee_chats.matcher import run_matching\n"
        "res = run_matching(request(make_students(21, 3)))\n"
        "assert sum(len(g.members) == 3 for g in res.groups) == 1\n"
        "print(sorted(m for m in ('scipy.optimize', 'scipy.sparse') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
