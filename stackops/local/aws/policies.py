"""Resource policy conditions whose keys the request does not carry, as IAM evaluates them.

moto 5.2.5 (moto/iam/policy_conditions.py, TrustCondition.verify_condition) treats a condition
as holding when the request supplies no value for its key. IAM treats it as not holding (except
for `...IfExists` operators and `Null`). With moto's reading, the state bucket's TLS-only policy
(Deny when aws:SecureTransport is false) denies every request, since moto supplies no value for
aws:SecureTransport. Here such a statement does not apply. moto still does not evaluate
aws:SecureTransport itself, so on the emulator the TLS-only policy is stored and checked by
`inv bootstrap`, but not enforced.
"""

from __future__ import annotations

from typing import Any


def _has_unsupplied_key(conditions: dict[str, Any], supplied: dict[str, str] | None) -> bool:
    supplied = supplied or {}
    for operator, keys in conditions.items():
        if operator.endswith("IfExists") or operator == "Null":
            continue
        if any(key not in supplied for key in keys):
            return True
    return False


def install() -> None:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted
    if getattr(original, "_stackops", False):
        return

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        conditions = self._statement.get("Condition")
        if conditions and _has_unsupplied_key(conditions, incoming_condition_values):
            return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    is_action_permitted._stackops = True  # type: ignore[attr-defined]
    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]


def install_bucket_logging_check() -> None:
    """moto 5.2.5's check that a log bucket admits S3 log delivery (FakeBucket._log_permissions_enabled_policy)
    reads every statement's Principal as a mapping and fails with HTTP 500 on `"Principal": "*"`, which
    the TLS-only deny statement uses. Statements with such a principal cannot grant log delivery, so
    the check here sees only the others."""
    import json
    from types import SimpleNamespace

    from moto.s3.models import FakeBucket

    original = FakeBucket._log_permissions_enabled_policy
    if getattr(original, "_stackops", False):
        return

    def check(target_bucket: Any, target_prefix: str | None) -> bool:
        if not target_bucket.policy:
            return bool(original(target_bucket, target_prefix))
        policy = json.loads(target_bucket.policy.decode())
        statements = policy.get("Statement", [])
        policy["Statement"] = [s for s in statements if isinstance(s.get("Principal", {}), dict)]
        view = SimpleNamespace(policy=json.dumps(policy).encode(), partition=target_bucket.partition,
                               name=target_bucket.name)  # fmt: skip
        return bool(original(view, target_prefix))

    check._stackops = True  # type: ignore[attr-defined]
    FakeBucket._log_permissions_enabled_policy = staticmethod(check)  # type: ignore[assignment]
