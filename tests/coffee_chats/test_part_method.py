"""``PartMethod``: a facade's method that is one part's method of the same name."""

from __future__ import annotations

from bot.facade import PartMethod
from cogs.coffee_chats.proposals import Proposals
from cogs.coffee_chats.service import MatchingService


class _Part:
    async def greet(self, name: str, *, loud: bool = False) -> str:
        """Say hello."""
        return f"HELLO {name}" if loud else f"hello {name}"


class _Facade:
    def __init__(self) -> None:
        self._part = _Part()

    greet = PartMethod("_part", _Part.greet)


async def test_the_facade_calls_the_parts_method_with_its_arguments() -> None:
    facade = _Facade()
    assert await facade.greet("ana") == "hello ana"
    assert await facade.greet("ana", loud=True) == "HELLO ana"
    assert facade.greet.__self__ is facade._part  # type: ignore[attr-defined]


def test_the_class_shows_the_parts_docstring() -> None:
    assert isinstance(MatchingService.__dict__["preview_pages"], PartMethod)
    assert MatchingService.preview_pages.__doc__ == Proposals.preview_pages.__doc__
    assert MatchingService.preview_pages.__doc__ is not None
    assert _Facade.greet.__doc__ == "Say hello."
