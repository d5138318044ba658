"""discord.py's extension module for this feature (``bot.client.EXTENSIONS``): its ``setup``
is the package's. A module of its own because unloading an extension drops it and its
submodules from ``sys.modules``: the feature's services and values stay the ones imported."""

from cogs.mentors import setup

__all__ = ["setup"]
