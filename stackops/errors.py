"""Errors the task layer turns into a one-line message and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """An AWS error the operation did not expect becomes one clear line naming `action`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise OpsError(f"{action}: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise OpsError(f"{action}: {exc}") from None
