"""Errors the task layer turns into a one-line message and an exit code."""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_REFUSED = 2  # refused by a guard, or drift found


class OpsError(Exception):
    """An operation failed; the message is shown to the user as is."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Refused(OpsError):
    """A guard refused to go on (wrong account, unconfirmed prod change); nothing was changed."""

    exit_code = EXIT_REFUSED
