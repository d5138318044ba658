"""Garbage collection for a long-running bot.

After start-up the process holds a large, long-lived object graph (discord.py's member and
channel caches, the loaded cogs, the template texts) that CPython's cyclic collector would
otherwise walk in every full collection: 50–60 ms each under event load, every few seconds,
stalling the event loop (and every command waiting on it) while they run. ``gc.freeze()``
moves everything alive at that moment into a permanent generation that collections skip;
objects created later are collected as usual.

The thresholds are CPython's defaults unless the ``COHORTBOT_GC_THRESHOLDS`` setting says
otherwise (``"gen0,gen1,gen2"``, parsed with the other settings in bot/settings.py): measured
under ``bench.ingest``'s load with the freeze in place, the young and middle collections cost
well under the probe budget, so raising them bought nothing measurable (see
docs/performance.md, "Garbage collection").
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)


def configure_thresholds(thresholds: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """Apply the ``COHORTBOT_GC_THRESHOLDS`` setting when given; return the thresholds in
    force."""
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    first, second, third = gc.get_threshold()
    return first, second, third


def freeze_long_lived(reason: str, *, collect: bool = True) -> None:
    """Freeze everything alive now (start-up caches and other one-time loads), after
    collecting what is already garbage unless ``collect`` is False. Safe to call again: each
    call freezes what came since.

    The freeze itself costs next to nothing, but the collection walks the whole heap (tens of
    ms once discord.py's caches are loaded), and so does counting the frozen objects (a few
    ms); meanwhile the event loop answers nothing. Once the bot is serving, call this with
    ``collect=False``: it neither collects nor counts, and the little cyclic garbage made
    since the last collection stays (frozen) for the life of the process."""
    if not collect:
        gc.freeze()
        log.info("Froze the long-lived objects after %s", reason)
        return
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "Froze %d long-lived objects after %s (%.0f ms)",
        gc.get_freeze_count(),
        reason,
        (time.perf_counter() - started) * 1000,
    )


#: Whether :func:`pause_while_loading` turned the collector off (and nothing has resumed it).
_paused_for_loading = False


def pause_while_loading(max_seconds: float) -> None:
    """Turn the cyclic collector off until :func:`loaded` (or ``max_seconds``, whichever
    comes first), from the features' freeze until the guild caches are loaded.

    Loading the guilds (every member of a 2,000-student course) allocates tens of thousands
    of objects that live as long as the process; the collector would walk them in full
    collections of 20–40 ms while the first commands and messages after a restart are
    already being answered, and they are frozen at ``on_ready`` anyway. The time limit keeps
    the collector from staying off if the gateway never becomes ready."""
    global _paused_for_loading
    if not gc.isenabled():
        return  # someone else holds it off: theirs to turn back on
    gc.disable()
    _paused_for_loading = True
    asyncio.get_running_loop().call_later(max_seconds, resume_collection, "start-up timed out")


def resume_collection(reason: str) -> None:
    """Turn the collector back on if :func:`pause_while_loading` turned it off."""
    global _paused_for_loading
    if _paused_for_loading:
        _paused_for_loading = False
        gc.enable()
        log.info("Garbage collection back on (%s)", reason)


def loaded(reason: str) -> None:
    """The guild caches are loaded: freeze them (no collection, see
    :func:`freeze_long_lived`), then turn the collector back on."""
    freeze_long_lived(reason, collect=False)
    resume_collection(reason)
