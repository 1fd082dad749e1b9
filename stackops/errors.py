"""Errors the task layer turns into a one-line message and an exit code, and the one place an AWS or
botocore error becomes such a line: what was being done, the operation, AWS's error code, the
likely fix (`aws_error_message`; `aws_errors` wraps a block with it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

EXIT_FAILED = 1
EXIT_REFUSED = 2  # refused by a guard, or drift found

# Where the README says which permissions a profile needs, by service (default: the operator's).
POLICY_DOCS = {"route53": "the README's 'Certificates' (certbot's Route53 permissions)"}
DEFAULT_POLICY_DOCS = "the README's 'Operator policies' and operator-policies/"
# Codes by likely cause. Throttling codes are botocore's own (its standard retry mode's list).
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
INVALID_CREDENTIALS = frozenset({"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId",
                                 "SignatureDoesNotMatch", "AuthFailure", "InvalidToken"})  # fmt: skip
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
                           "Forbidden", "403"})  # fmt: skip
OTHER_ACCOUNTS_BUCKET = frozenset({"BucketAlreadyExists"})
MAX_MESSAGE = 300  # characters of AWS's own message kept in the line
# Where an operation's IAM action has another name (the Service Authorization Reference): the
# ones this tool and Terraform's S3 backend call. Any other is `service:Operation`.
IAM_ACTIONS = {
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
}


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


def session_profiles(session: Any) -> list[str]:
    """The AWS profile of a boto3 Session (for the fix an error's line names); none for other objects,
    nor for boto3's "default", which is also what it says for the default credential chain."""
    profile = getattr(session, "profile_name", None)
    return [profile] if isinstance(profile, str) and profile != "default" else []


def is_aws_error(exc: BaseException) -> bool:
    """A botocore ClientError (AWS answered with an error) or BotoCoreError (no credentials, no network, ...)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError)


@contextmanager
def aws_errors(action: str, *, profiles: Sequence[str | None] = ()) -> Iterator[None]:
    """An AWS error in the block becomes an OpsError: one line naming `action` (see aws_error_message)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise OpsError(aws_error_message(exc, action, profiles=profiles)) from None


def aws_error_message(exc: BaseException, action: str | None = None, *, profiles: Sequence[str | None] = ()) -> str:
    """One line for an AWS or botocore error: `action`, the operation, the error code, the likely fix.

    `profiles` are the AWS profiles the failed call may have used, for the commands in the fix.
    """
    from botocore.exceptions import ClientError

    detail = _client_error(exc, profiles) if isinstance(exc, ClientError) else _botocore_error(exc, profiles)
    return f"{action}: {detail}" if action else detail


def _one_line(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _named(profiles: Sequence[str | None]) -> list[str]:
    return [profile for profile in dict.fromkeys(profiles) if profile]  # None: the default credential chain


def _login(profiles: Sequence[str | None]) -> str:
    commands = [f"`aws sso login --profile {profile}`" for profile in _named(profiles)]
    return ", ".join(commands or ["`aws sso login --profile PROFILE`"])


def _service_of(exc: BaseException) -> str | None:
    """The service of the client that raised `exc`: botocore's ClientError names the operation but
    not the service, whose client is on the traceback (`BaseClient._make_api_call`)."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        client = frame.f_locals.get("self") if frame.f_code.co_name == "_make_api_call" else None
        model = getattr(getattr(client, "meta", None), "service_model", None)
        if model is not None:
            return str(model.signing_name)  # the prefix of its IAM actions (s3, ssm, acm, sts, ...)
        tb = tb.tb_next
    return None


def _attempts(response: dict[str, Any]) -> int:
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1


def _is_throttling(response: dict[str, Any]) -> bool:
    """botocore's own judgement (the standard retry mode's list of throttling codes)."""
    from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

    return bool(ThrottledRetryableChecker().is_retryable(RetryContext(attempt_number=1, parsed_response=response)))


def _client_error(exc: Any, profiles: Sequence[str | None]) -> str:
    response: dict[str, Any] = exc.response
    error = response.get("Error", {})
    code = str(error.get("Code") or "error")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    service = _service_of(exc)
    operation = str(exc.operation_name)
    call = f"{service}:{operation}" if service else operation
    action = IAM_ACTIONS.get((service or "", operation), call)  # what the policy must allow
    message = _one_line(error.get("Message") or "")
    line = f"{call} failed with {code}" + (f" ({message})" if message and message != code else "")
    if code in EXPIRED:
        clock = " (or this machine's clock is wrong)" if code == "RequestExpired" else ""
        hint = f"the credentials have expired{clock}: refresh them ({_login(profiles)}, or your CI's role), run again"
    elif code in INVALID_CREDENTIALS:
        hint = "the credentials are not valid: check the profile with `aws sts get-caller-identity --profile P`"
    elif code in ACCESS_DENIED:
        docs = POLICY_DOCS.get(service or "", DEFAULT_POLICY_DOCS)
        hint = f"access denied: the profile's IAM policy must allow {action} (see {docs})"
    elif _is_throttling(response):
        hint = (f"throttled: AWS still refused after the SDK's {_attempts(response)} attempts (standard retry "
                "mode): try again later, or allow more attempts with AWS_MAX_ATTEMPTS")  # fmt: skip
    elif code in OTHER_ACCOUNTS_BUCKET:
        hint = ("the bucket name is owned by another AWS account (bucket names are global): choose another "
                "`bucket` in the environment's backend.hcl")  # fmt: skip
    elif status >= 500:
        hint = f"AWS failed on its side after the SDK's {_attempts(response)} attempts: try again later"
    else:
        return line
    return f"{line}: {hint}"


def _botocore_error(exc: BaseException, profiles: Sequence[str | None]) -> str:
    from botocore import exceptions as errors

    text = _one_line(exc)
    configure = ", ".join(f"`aws configure --profile {p}`" for p in _named(profiles)) or "`aws configure`"
    if isinstance(exc, errors.NoCredentialsError):
        return f"{text}: configure the profile ({configure}), log in ({_login(profiles)}) or give CI its role"
    if isinstance(exc, errors.TokenRetrievalError | errors.SSOError | errors.LoginError):
        return f"{text}: the SSO session has expired: {_login(profiles)}, then run again"
    if isinstance(exc, errors.ProfileNotFound):
        return f"{text}: add it with `aws configure --profile NAME`"
    if isinstance(exc, errors.PartialCredentialsError | errors.CredentialRetrievalError):
        return f"{text}: check the profile's credentials ({configure})"
    if isinstance(exc, errors.ConnectionError | errors.HTTPClientError):
        return f"cannot reach AWS: {text}: check the network or proxy (for --env local: inv local.status)"
    if isinstance(exc, errors.NoRegionError):
        return f"{text}: the environment's tfvars set `region`; run through inv"
    if isinstance(exc, errors.ParamValidationError):
        return f"a request stackops built was invalid (a bug, please report it): {text}"
    return f"{type(exc).__name__}: {text}"
