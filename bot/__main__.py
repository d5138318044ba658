"""`python -m bot` is `cohortbot run` (or any cohortbot subcommand)."""

from __future__ import annotations

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run"]))
