"""The account guard: nothing touches an environment unless each profile is in its declared account."""

from __future__ import annotations

from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError, Refused, aws_error_message


def caller_account(session: Any, profile: str) -> str:
    """Account id behind a boto3 session, with a clear error when its credentials do not work."""
    import botocore.exceptions

    try:
        return str(session.client("sts").get_caller_identity()["Account"])
    except botocore.exceptions.ProfileNotFound:
        raise OpsError(
            f"AWS profile {profile!r} is not configured: add it with `aws configure --profile {profile}`"
        ) from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise OpsError(f"cannot reach AWS for profile {profile!r}: {exc}") from None
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.ClientError,
            botocore.exceptions.BotoCoreError) as exc:  # fmt: skip
        checking = f"checking the account of AWS profile {profile!r}"
        raise OpsError(aws_error_message(exc, checking, profiles=[profile])) from None


def declared_accounts(
    env: Environment, *, environment: bool = True, master: bool = True
) -> list[tuple[str, str, bool]]:
    """(profile, declared account, is the state account) for the profiles an operation uses."""
    pairs = [(env.profile, env.account_id, False)] if environment else []
    if master:
        pairs.append((env.master_profile, env.master_account_id, True))
    return pairs


def check_accounts(env: Environment, *, environment: bool = True, master: bool = True) -> None:
    """Refuse (exit 2) unless the environment's profile, and the state profile, are in their declared accounts."""
    for profile, expected, is_master in declared_accounts(env, environment=environment, master=master):
        actual = caller_account(env.session(master=is_master), profile)
        if actual != expected:
            role = "state (master)" if is_master else env.name
            raise Refused(
                f"refused: profile {profile!r} is in account {actual}, but the {role} account of "
                f"{env.name} is {expected} (environments/{env.name}/variables.tfvars); nothing was changed"
            )
