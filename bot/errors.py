"""Errors that mean "tell the person what to do", as opposed to bugs."""

from __future__ import annotations

from discord import app_commands


class UserFacingError(app_commands.AppCommandError):
    """An expected problem; its message is shown privately to the person who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotConfiguredError(UserFacingError):
    """The server has not been set up with /course setup yet."""


class StaffOnlyError(app_commands.CheckFailure):
    """A runtime permission check failed; the message says who may use the command."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
