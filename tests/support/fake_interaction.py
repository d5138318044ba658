"""A stand-in for ``interaction.response`` in unit tests of reply helpers: records what was
sent. (Tests of commands and buttons use the real client against the sandbox instead.)"""

from __future__ import annotations

from typing import Any


class FakeResponse:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)
