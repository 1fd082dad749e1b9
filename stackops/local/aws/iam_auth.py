"""moto's IAM authorisation, switched on and off at run time (`/_stack/iam-auth`), and one fix to it.

moto 5.2.5 authorises requests once `settings.INITIAL_NO_AUTH_ACTION_COUNT` of them have been
served (`ActionAuthenticatorMixin`, moto/core/authorization.py; the emulator starts with it at
infinity: no request is ever authorised). Switched on, each request to a service that goes through
moto's `BaseResponse.call_action` (and S3's own path) is checked by moto/iam/access_control.py:

- authentication: the access key must be an IAM user's key (the user of the account moto maps the
  key to) or credentials STS handed out (`AssumeRole`), and the SigV4 signature must match its
  secret. A key IAM does not know is refused (InvalidClientTokenId, AuthFailure for EC2,
  InvalidAccessKeyId for S3), which is why the emulator's own dummy keys stop working unless
  `enable(admin=...)` makes them a real identity;
- authorisation: the identity policies of that user (inline, attached, its groups') or role (inline
  and attached); an explicit Deny wins; `sts:GetCallerIdentity` is always allowed (as in AWS).
  For `sts:AssumeRole` of a role in the caller's own account the trust policy's principal is
  checked too. Resource-based policies (bucket policies aside, which moto's S3 checks on object
  requests), permission boundaries, SCPs, session policies and condition keys are not evaluated
  (a statement with a Condition grants nothing: the request carries no condition values).

The resource moto authorises against is the request's ARN only for S3 (bucket or object), SQS
(the queue), IAM role actions (the role) and STS AssumeRole (the role); for every other request it
passes `"*"`. moto then matches a statement's `Resource` pattern against the literal `"*"`, so a
statement scoped to an ARN never matches and a least-privilege policy is denied every call that
real AWS would allow. The fix (`install`): when moto passes `"*"` (it does not know the resource),
the `Resource` element is taken to match, i.e. those requests are authorised by action only.
Resource scopes are therefore proven on S3, SQS, IAM roles and STS, and only stated elsewhere.

moto names S3 requests for authorisation from a table (moto/s3/responses.py ACTION_MAP) that
differs from IAM's action names in a few places: HeadBucket is authorised by `s3:ListBucket` in
AWS (moto asks for `s3:HeadBucket`, which no IAM policy can grant), and the bucket
sub-resources it does not list (`?encryption`, `?replication`, `?object-lock`,
`?ownershipControls`, `?requestPayment`, and `?publicAccessBlock`, which it spells
`public_access_block`) all fell back to `s3:ListBucket`. `install` adds IAM's names for those.

moto evaluates a statement's Condition against the values the request carries, and hands it none
but STS's ExternalId; an Allow whose condition is then unmet even counts as an explicit Deny. So
a least-privilege `cloudwatch:PutMetricData` (no resource type; AWS documents holding it to a
namespace with `cloudwatch:namespace`) was refused. `install` gives the condition the request's
`Namespace`, as AWS does; no other condition key is supplied. moto also named CloudWatch's
actions after its signing name (`monitoring:PutMetricData`), which no IAM policy can grant;
`install` names them `cloudwatch:...`, as IAM does.

AssumeRoleWithWebIdentity is unsigned (the caller has no AWS credentials yet: AWS checks the
token against the role's trust policy instead), and moto refused it once authorisation was on (it
authenticates every request by its signature). `install` lets STS's unsigned
AssumeRoleWithWebIdentity through unauthenticated, as AWS does; moto accepts any token and does
not evaluate the trust policy's `aud` and `sub` conditions. The session it hands out is then
authorised like any assumed role's (the role's inline and attached policies), so the CI roles'
policies are proven as the operator roles' are.

moto refused every signed Route53 request without a body (SignatureDoesNotMatch): its Route53
responses hand the request headers over as the request's data, and the signature check signs
that data when the body is empty. Lambda's GETs (GetFunction, the renewal function's refresh)
fail the same way. `install` makes it sign the empty body, as the client did, for the services
in EMPTY_BODY_SERVICES.
"""

from __future__ import annotations

import contextvars
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ADMIN_USER = "exii-emulated-root"
ADMIN_POLICY = "emulator-admin"
_ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@dataclass(frozen=True)
class Admin:
    """The emulator's own identity, kept working while authorisation is on: its static key (an IAM
    user in moto's default account) and the role it assumes in each of `accounts`, both allowed
    everything. The DNS bridge of the local ACME server and the tests' own boto3 use it."""

    access_key_id: str
    secret_access_key: str
    role_name: str
    accounts: tuple[str, ...]

    @classmethod
    def from_json(cls, raw: Any) -> Admin:
        if not isinstance(raw, Mapping):
            raise ValueError("admin must be an object")
        missing = [k for k in ("access_key_id", "secret_access_key", "role_name", "accounts") if not raw.get(k)]
        if missing:
            raise ValueError(f"admin lacks {', '.join(missing)}")
        accounts = raw["accounts"]
        if (
            not isinstance(accounts, Sequence)
            or isinstance(accounts, str)
            or not all(isinstance(a, str) and a.isdigit() and len(a) == 12 for a in accounts)
        ):
            raise ValueError("admin.accounts must be a list of 12-digit account ids")
        return cls(str(raw["access_key_id"]), str(raw["secret_access_key"]), str(raw["role_name"]), tuple(accounts))


def enabled() -> bool:
    from moto import settings

    return not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)


def state() -> dict[str, Any]:
    return {"enabled": enabled()}


def enable(admin: Admin | None = None) -> dict[str, Any]:
    """Authorise every request from now on (admin, when given, is made a real identity first)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    if admin is not None:
        _ensure_admin(admin)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    return state()


def disable() -> dict[str, Any]:
    """No request is authorised any more (how the emulator starts)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    ActionAuthenticatorMixin.request_count = 0
    return state()


def _ensure_admin(admin: Admin) -> None:
    """The admin user with exactly `admin`'s key, and its role in each account (idempotent)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import get_account_id_from, iam_backends

    home = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    user = home.users.get(ADMIN_USER) or home.create_user("us-east-1", ADMIN_USER)
    home.put_user_policy(ADMIN_USER, ADMIN_POLICY, _ALLOW_ALL)
    if admin.access_key_id not in home.access_keys:
        if get_account_id_from(admin.access_key_id) != DEFAULT_ACCOUNT_ID:
            raise ValueError(f"access key {admin.access_key_id} belongs to another identity")
        # IAM's API draws key ids at random; the emulator's profiles carry a fixed one.
        key = home.create_access_key(ADMIN_USER)
        del home.access_keys[key.access_key_id]
        key.access_key_id, key.secret_access_key = admin.access_key_id, admin.secret_access_key
        home.access_keys[key.access_key_id] = key
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}]})  # fmt: skip
    for account in admin.accounts:
        backend = iam_backends[account]["aws"]
        if not any(role.name == admin.role_name for role in backend.get_roles()):
            backend.create_role(admin.role_name, trust, "/", None, "the emulator's own identity", [], None)
        backend.put_role_policy(admin.role_name, ADMIN_POLICY, _ALLOW_ALL)


# Bucket sub-resources (query keys) and IAM's action for reading them, where moto 5.2.5 has none.
S3_BUCKET_READS = {
    "encryption": "GetEncryptionConfiguration",
    "replication": "GetReplicationConfiguration",
    "object-lock": "GetBucketObjectLockConfiguration",
    "ownershipControls": "GetBucketOwnershipControls",
    "requestPayment": "GetBucketRequestPayment",
    "publicAccessBlock": "GetBucketPublicAccessBlock",
}


def install() -> None:
    """A statement's Resource matches when moto does not know the request's resource ("*");
    S3 requests are authorised under IAM's action names."""
    from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase
    from moto.s3.responses import ACTION_MAP

    ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
    ACTION_MAP["BUCKET"]["GET"].update(S3_BUCKET_READS)

    original = IAMPolicyStatement._check_element_matches
    if getattr(original, "_stackops", False):
        return

    def check_element_matches(self: Any, statement_element: Any, value: str) -> bool:
        if statement_element == "Resource" and value == "*":
            return True
        return bool(original(self, statement_element, value))

    check_element_matches._stackops = True  # type: ignore[attr-defined]
    IAMPolicyStatement._check_element_matches = check_element_matches  # type: ignore[method-assign]

    original_request = IAMRequestBase._create_aws_request

    def create_aws_request(self: Any) -> Any:
        if self._service not in EMPTY_BODY_SERVICES or self._body:
            return original_request(self)
        data, self._data = self._data, {}  # the empty body the client signed, not the headers
        try:
            return original_request(self)
        finally:
            self._data = data

    IAMRequestBase._create_aws_request = create_aws_request  # type: ignore[method-assign]
    _install_unsigned_web_identity()
    _install_request_conditions()


# STS operations AWS serves without a signature (the token is the credential).
UNSIGNED_STS_ACTIONS = {"AssumeRoleWithWebIdentity"}


def _install_unsigned_web_identity() -> None:
    from moto.sts.responses import TokenResponse

    original = TokenResponse._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        if self._get_action() in UNSIGNED_STS_ACTIONS and "Authorization" not in self.headers:
            return  # authenticated by its token, as in AWS (moto checks neither token nor trust)
        original(self, resource)

    TokenResponse._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]


# The condition values of the request being authorised (set around moto's check, read by it).
_REQUEST_CONDITIONS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("conditions", default=None)


def request_conditions(service: str, action: str, namespace: str | None) -> dict[str, str]:
    """The condition keys AWS sets for this request that the fix supplies: cloudwatch:namespace."""
    if service == "cloudwatch" and action == "PutMetricData" and namespace:
        return {"cloudwatch:namespace": namespace}
    return {}


# REST services whose GET requests carry no body: moto signed their headers instead (see above).
EMPTY_BODY_SERVICES = {"route53", "lambda", "scheduler"}

# Services whose SigV4 signing name (what moto builds the action from) is not their IAM prefix.
IAM_PREFIXES = {"monitoring": "cloudwatch"}


def _install_request_conditions() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase

    original_init = IAMRequestBase.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        prefix = IAM_PREFIXES.get(self._service)
        if prefix:
            self._action = prefix + self._action[len(self._service) :]

    IAMRequestBase.__init__ = init  # type: ignore[method-assign]

    # Wrapped here, around policies.py's wrapper too (which leaves a statement whose condition keys
    # the request does not supply NEUTRAL), so both see the request's values.
    original_permitted = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(
        self: Any, action: str, resource: str = "*", principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:  # fmt: skip
        values = {**(_REQUEST_CONDITIONS.get() or {}), **(incoming_condition_values or {})}
        return original_permitted(self, action, resource, principal, values or None)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
    original_authorize = CloudWatchResponse._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        values = request_conditions("cloudwatch", self._get_action(), self._get_param("Namespace"))
        token = _REQUEST_CONDITIONS.set(values)
        try:
            original_authorize(self, resource)
        finally:
            _REQUEST_CONDITIONS.reset(token)

    CloudWatchResponse._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign]
