"""Errors that mean "tell the person what to do", as opposed to bugs.

Plain exceptions, no discord import: services raise them, and the command tree's one error
path (``bot/ui.py``'s ``describe_expected_error``) turns them into the private answer."""

from __future__ import annotations


class ExpectedError(Exception):
    """An expected problem; its message is shown privately to the person who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserFacingError(ExpectedError):
    """Bad input or a state the person can fix; nothing was changed."""


class NotConfiguredError(UserFacingError):
    """The server has not been set up with /course setup yet."""


class StaffOnlyError(ExpectedError):
    """A runtime permission check failed; the message says who may use the command."""
