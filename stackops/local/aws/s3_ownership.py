"""S3 bucket ownership, as S3 enforces it.

moto 5.2.5 keeps one bucket namespace for every account (`s3_backends.bucket_accounts`) and its
`S3Backend.get_bucket` hands a request from any account the bucket of any other (unless
MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false, which also refuses what a bucket policy grants). It also
ignores `x-amz-expected-bucket-owner` (the SDKs' ExpectedBucketOwner). S3 does neither:

- Bucket owner condition (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html):
  when the header names another account than the bucket's owner, the request fails with
  403 Access Denied before it is carried out. The header is ignored by CreateBucket and
  ListBuckets. A bucket that does not exist stays 404 NoSuchBucket (there is no owner to compare).
- A request from another account is served only when the bucket's policy grants it (and the
  caller's own identity policy allows it, which the emulator's admin roles always do); otherwise
  403 AccessDenied. HeadBucket answers "a generic 404 Not Found or 403 Forbidden code", with no
  body (API reference, HeadBucket).

Here, before moto serves a bucket or object request on an existing bucket, the request is refused
with 403 AccessDenied (HEAD: 403 without a body, like S3) when it names an expected owner that is
not the bucket's, or when it comes from another account and the bucket's policy has no grant for it.

A grant is read narrowly: an Allow statement without a Condition, whose Principal is `*` or names
the caller's account (its id, its root ARN, or any IAM/STS ARN in it: the emulator does not tell
one role of an account from another), whose Action matches the request's (moto's ACTION_MAP name,
`s3:` prefixed; HeadBucket is `s3:ListBucket`, as S3 authorises it), and whose Resource matches
the bucket's or the object's ARN. An Allow with a Condition is not counted (the conditions are not
evaluated here), so such a bucket stays unreachable. Deny statements remain moto's business.
Requests of the bucket's own account are unchanged but for the expected-owner check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

EXPECTED_OWNER_HEADER = "x-amz-expected-bucket-owner"


def _patterns(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def _matches(patterns: Iterable[str], value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one character."""
    flags = re.IGNORECASE if ignore_case else 0
    for pattern in patterns:
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        if re.fullmatch(regex, value, flags):
            return True
    return False


def _principal_names(principal: Any, account: str) -> bool:
    """Whether a statement's Principal covers a caller of `account`."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    for name in _patterns(principal.get("AWS")):
        if name in ("*", account) or name.startswith((f"arn:aws:iam::{account}:", f"arn:aws:sts::{account}:")):
            return True
    return False


def grants(policy: Mapping[str, Any] | None, account: str, action: str, resource: str) -> bool:
    """Whether a bucket policy has an unconditional Allow of `action` on `resource` for a caller of `account`."""
    statements = (policy or {}).get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        if statement.get("Effect") != "Allow" or "Condition" in statement or "Action" not in statement:
            continue
        if (
            _principal_names(statement.get("Principal"), account)
            and _matches(_patterns(statement["Action"]), action, ignore_case=True)
            and _matches(_patterns(statement.get("Resource")), resource)
        ):
            return True
    return False


def refused(
    *,
    caller: str,
    owner: str | None,
    expected: str | None,
    policy: Mapping[str, Any] | None,
    action: str,
    resource: str,
) -> bool:
    """Whether S3 would answer 403 AccessDenied for this request on an existing bucket of `owner`.

    `owner` None (no such bucket) and CreateBucket are left to moto: 404 NoSuchBucket, or 409
    BucketAlreadyExists for a name another account holds, as S3 answers.
    """
    if owner is None or action == "s3:CreateBucket":
        return False
    if expected and expected != owner:
        return True
    return caller != owner and not grants(policy, caller, action, resource)


def action_for(resource_type: str, method: str, querystring: Mapping[str, Any]) -> str:
    """The IAM action of a request, from moto's own ACTION_MAP ("BUCKET" or "KEY")."""
    from moto.s3.responses import ACTION_MAP

    if resource_type == "BUCKET" and method == "HEAD":
        return "s3:ListBucket"  # HeadBucket needs s3:ListBucket (API reference, HeadBucket)
    if resource_type == "BUCKET" and method == "POST":
        return "s3:DeleteObject"  # DeleteObjects (POST ?delete) is authorised object by object
    actions = ACTION_MAP[resource_type].get(method, {})
    named = [action for key, action in actions.items() if key != "DEFAULT" and key in querystring]
    return "s3:" + (named[-1] if named else actions.get("DEFAULT", "PutObject"))


def _bucket_facts(bucket: str) -> tuple[str | None, dict[str, Any] | None]:
    """The owner of `bucket` (None when it does not exist) and its policy."""
    from moto.s3.models import s3_backends

    located = s3_backends.bucket_accounts.get(bucket)
    if located is None:
        return None, None
    partition, owner = located
    found = s3_backends[owner][partition].buckets.get(bucket)
    raw = getattr(found, "policy", None)
    return owner, json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else None


def _check(response: Any, request: Any, bucket: str, resource_type: str, query: Mapping[str, Any],
           resource: str) -> Any:  # fmt: skip
    """None to let moto serve the request; else S3's 403 for it (raised, or returned for HEAD)."""
    from moto.s3.exceptions import S3AccessDeniedError

    owner, policy = _bucket_facts(bucket)
    method = request.method.upper()
    action = action_for(resource_type, method, query)
    expected = request.headers.get(EXPECTED_OWNER_HEADER)
    if not refused(caller=response.current_account, owner=owner, expected=expected, policy=policy,
                   action=action, resource=resource):  # fmt: skip
        return None
    if method == "HEAD":
        return 403, {}, ""  # S3's HEAD answers carry no body
    raise S3AccessDeniedError()  # moto's bucket/key_response turn it into S3's XML error


def install() -> None:
    from moto.s3.responses import S3Response

    original_bucket = S3Response._bucket_response
    original_key = S3Response._key_response
    if getattr(original_bucket, "_stackops", False):
        return

    def _bucket_response(self: Any, request: Any, full_url: str) -> Any:
        bucket = self.parse_bucket_name_from_url(request, full_url)
        if bucket:  # no bucket: ListBuckets
            query = self._get_querystring(request, full_url)
            denied = _check(self, request, bucket, "BUCKET", query, f"arn:aws:s3:::{bucket}")
            if denied is not None:
                return denied
        return original_bucket(self, request, full_url)

    def _key_response(self: Any, request: Any, full_url: str) -> Any:
        bucket = self.parse_bucket_name_from_url(request, full_url)
        if bucket:
            query = self._get_querystring(request, full_url)
            resource = f"arn:aws:s3:::{bucket}/{self.parse_key_name()}"
            denied = _check(self, request, bucket, "KEY", query, resource)
            if denied is not None:
                return denied
        return original_key(self, request, full_url)

    _bucket_response._stackops = True  # type: ignore[attr-defined]
    _key_response._stackops = True  # type: ignore[attr-defined]
    S3Response._bucket_response = _bucket_response  # type: ignore[method-assign]
    S3Response._key_response = _key_response  # type: ignore[method-assign]
