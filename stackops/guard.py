"""The account guard: nothing touches an environment unless its credentials are in its declared accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError, Refused, aws_error_message
from stackops.parallel import together


def caller_account(session: Any, credentials: str, profile: str | None = None) -> str:
    """Account id behind a boto3 session, with a clear error when its credentials do not work.

    `credentials` names them in messages ("profile 'exiidev'", "the default credentials ...").
    """
    import botocore.exceptions

    try:
        return str(session.client("sts").get_caller_identity()["Account"])
    except botocore.exceptions.ProfileNotFound:
        raise OpsError(
            f"AWS profile {profile!r} is not configured: add it with `aws configure --profile {profile}`"
        ) from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise OpsError(f"cannot reach AWS with {credentials}: {exc}") from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError) as exc:  # fmt: skip
        checking = f"checking the account of {credentials}"
        raise OpsError(aws_error_message(exc, checking, profiles=[profile] if profile else [])) from None


def declared_accounts(env: Environment, *, environment: bool = True, master: bool = True) -> list[tuple[bool, str]]:
    """(is the state account, declared account) for the accounts an operation uses."""
    pairs = [(False, env.account_id)] if environment else []
    if master:
        pairs.append((True, env.master_account_id))
    return pairs


def check_accounts(env: Environment, *, environment: bool = True, master: bool = True) -> None:
    """Refuse (exit 2) unless the environment's credentials, and the state account's, are in their
    declared accounts (profiles or not: the caller's account is what is compared)."""
    pairs = declared_accounts(env, environment=environment, master=master)

    def caller(is_master: bool) -> Callable[[], str]:
        profile = env.master_profile if is_master else env.profile
        return lambda: caller_account(env.session(master=is_master), env.credentials_label(master=is_master), profile)

    # Both accounts asked at once (two STS round trips in the time of one); the environment's
    # failure, if both fail, is the one reported, as when they were asked in turn.
    actuals = together(*(caller(is_master) for is_master, _ in pairs))
    for (is_master, expected), actual in zip(pairs, actuals, strict=True):
        credentials = env.credentials_label(master=is_master)
        if actual != expected:
            role = "state (master)" if is_master else env.name
            raise Refused(
                f"refused: {credentials} is in account {actual}, but the {role} account of "
                f"{env.name} is {expected} (environments/{env.name}/variables.tfvars); nothing was changed"
            )
