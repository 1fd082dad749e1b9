"""Every IAM policy document of a Terraform plan, and parliament's findings on each.

parliament (duo-labs) checks a policy against AWS's own list of actions, resource types and
condition keys: unknown or misspelt actions, a resource that matches none of an action's resource
types, a condition key the action does not support or of the wrong type, unknown principals, and
(its community auditors) privilege escalation, credentials exposure, permissions management.
It does not know which request a statement must authorise: that a path or a role is missing is
for the plan tests to prove (tests/e2e/test_task_role_policies.py).

Where the documents are in a plan:
- JSON known at plan time: a policy-bearing attribute of a managed resource (`policy` of a role
  policy, bucket policy or managed policy; `assume_role_policy` of a role), or the `json` of an
  `aws_iam_policy_document` read during the plan (prior_state);
- an `aws_iam_policy_document` read at apply, because it names resources not created yet: its
  statements are in the plan with those values unknown. The document is rebuilt as the provider
  would write it, each unknown value replaced by UNKNOWN_ARN, which parliament takes for any
  resource of any service: actions, condition keys and principals are still checked, the
  resource types of those values are not (`partial` says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import parliament

# A value known only after apply: an ARN with every part a wildcard matches every resource type.
UNKNOWN_ARN = "arn:aws:*:*:*:*"

# Attributes holding a policy document, by resource type (ECR lifecycle "policies" are not IAM).
POLICY_ATTRIBUTES = {
    "aws_iam_policy": ("policy", "identity"),
    "aws_iam_role_policy": ("policy", "identity"),
    "aws_iam_user_policy": ("policy", "identity"),
    "aws_iam_group_policy": ("policy", "identity"),
    "aws_iam_role": ("assume_role_policy", "trust"),
    "aws_s3_bucket_policy": ("policy", "resource"),
    "aws_sqs_queue_policy": ("policy", "resource"),
    "aws_sns_topic_policy": ("policy", "resource"),
    "aws_ecr_repository_policy": ("policy", "resource"),
    "aws_secretsmanager_secret_policy": ("policy", "resource"),
    "aws_kms_key": ("policy", "resource"),
}


@dataclass
class PolicyDocument:
    """One policy document, where it comes from, and whether parts of it were unknown at plan time."""

    sources: list[str]  # plan addresses (with the attribute) holding this very document
    kind: str  # identity, trust (a role's assume-role policy) or resource (a bucket policy, ...)
    document: dict[str, Any]  # what is linted (a trust policy with its role as Resource)
    partial: bool = False

    @property
    def text(self) -> str:
        return json.dumps(self.document, sort_keys=True)


@dataclass(frozen=True)
class Finding:
    issue: str
    severity: str
    source: str
    kind: str
    detail: str = field(compare=False)

    def __str__(self) -> str:
        return f"{self.source} ({self.kind}): {self.issue} ({self.severity}) {self.detail}"


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _known(values: list[Any]) -> tuple[str | list[str], bool]:
    """The values with each unknown one (null in the plan) replaced, one value alone as the provider
    writes it (a string, not a list); whether any was unknown."""
    out = [UNKNOWN_ARN if v is None else v for v in values]
    return out[0] if len(out) == 1 else out, any(v is None for v in values)


def _kind(document: dict[str, Any]) -> str:
    statements = _as_list(document.get("Statement"))
    if not any("Principal" in s or "NotPrincipal" in s for s in statements):
        return "identity"
    actions = [a for s in statements for a in _as_list(s.get("Action"))]
    return "trust" if actions and all(a.startswith("sts:AssumeRole") for a in actions) else "resource"


def rebuild(after: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The JSON the provider will write for an aws_iam_policy_document read at apply.

    `source_policy_documents` and overrides are other documents, linted where they come from.
    """
    partial = False
    statements = []
    for block in after.get("statement") or []:
        st: dict[str, Any] = {"Effect": block.get("effect") or "Allow"}
        if block.get("sid"):
            st["Sid"] = block["sid"]
        for key, name in (("actions", "Action"), ("not_actions", "NotAction")):
            if block.get(key):
                st[name], _ = _known(sorted(block[key]))  # actions are never unknown: literals
        for key, name in (("resources", "Resource"), ("not_resources", "NotResource")):
            if block.get(key):
                st[name], unknown = _known(block[key])
                partial |= unknown
        for key, name in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            if block.get(key):
                principal: dict[str, Any] = {}
                for p in block[key]:
                    principal[p["type"]], unknown = _known(p["identifiers"])
                    partial |= unknown
                st[name] = "*" if list(principal) == ["*"] else principal
        for condition in block.get("condition") or []:
            # A list that is wholly unknown (built from an ARN known after apply) is left out of the plan.
            values, unknown = _known(condition["values"]) if "values" in condition else (UNKNOWN_ARN, True)
            st.setdefault("Condition", {}).setdefault(condition["test"], {})[condition["variable"]] = values
            partial |= unknown
        statements.append(st)
    return {"Version": after.get("version") or "2012-10-17", "Statement": statements}, partial


def plan_documents(raw: dict[str, Any]) -> list[PolicyDocument]:
    """Every policy document of a plan (`terraform show -json`), each distinct document once.

    A data source's JSON and the role policy made of it are one document with two sources. A
    document without statements (one made only of other documents) has nothing of its own to lint.
    """
    found: dict[str, PolicyDocument] = {}

    def add(source: str, document: dict[str, Any], kind: str | None = None, partial: bool = False,
            linted: dict[str, Any] | None = None) -> None:  # fmt: skip
        if not _as_list(document.get("Statement")):
            return
        key = json.dumps(document, sort_keys=True)
        if key not in found:
            found[key] = PolicyDocument([], kind or _kind(document), document, partial)
        doc = found[key]
        doc.sources.append(source)
        if kind:  # the attribute says what the document is; better than a guess from its contents
            doc.kind = kind
        if linted is not None:
            doc.document = linted

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource["mode"] == "data" and resource["type"] == "aws_iam_policy_document":
                add(resource["address"], json.loads(resource["values"]["json"]))
        for child in module.get("child_modules", []):
            walk(child)

    walk(raw.get("prior_state", {}).get("values", {}).get("root_module", {}))
    for change in raw.get("resource_changes", []):
        after = change["change"].get("after") or {}
        if change["mode"] == "data" and change["type"] == "aws_iam_policy_document":
            if isinstance(after.get("json"), str):
                add(change["address"], json.loads(after["json"]))
            else:
                document, partial = rebuild(after)
                add(change["address"], document, partial=partial)
        elif change["mode"] == "managed" and change["type"] in POLICY_ATTRIBUTES:
            attribute, kind = POLICY_ATTRIBUTES[change["type"]]
            text = after.get(attribute)
            if isinstance(text, str) and text.strip():
                document = json.loads(text)
                linted = with_role(document, change, raw) if kind == "trust" else None
                add(f"{change['address']}.{attribute}", document, kind, linted=linted)
    return list(found.values())


def with_role(document: dict[str, Any], change: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """A trust policy with its implied resource, the role, written out.

    A role's trust policy has no Resource element (the role is its resource); parliament expects
    one in every statement, so the role's ARN is added, which is what AWS evaluates it against.
    """
    after = change["change"]["after"]
    account = raw.get("variables", {}).get("account_id", {}).get("value", "*")
    arn = f"arn:aws:iam::{account}:role{after.get('path') or '/'}{after.get('name') or '*'}"
    return {**document, "Statement": [{**s, "Resource": arn} for s in _as_list(document["Statement"])]}


@cache
def _community_severities() -> None:
    """parliament's CLI loads these with --include-community-auditors; its API leaves it to the caller."""
    parliament.override_config(str(resources.files("parliament") / "community_auditors" / "config_override.yaml"))


def lint(text: str, source: str, kind: str = "identity") -> list[Finding]:
    """parliament's findings on one policy document (JSON text), community auditors included."""
    _community_severities()
    policy = parliament.analyze_policy_string(text, filepath=source, include_community_auditors=True)
    findings = []
    for finding in policy.findings:
        severity = parliament.config.get(finding.issue, {}).get("severity", "UNKNOWN")
        detail = json.dumps({"detail": finding.detail, "location": finding.location}, default=str)
        findings.append(Finding(finding.issue, severity, source, kind, detail))
    return findings


def lint_document(doc: PolicyDocument) -> list[Finding]:
    return lint(json.dumps(doc.document), " + ".join(doc.sources), doc.kind)


@dataclass(frozen=True)
class Allowed:
    """A finding judged wrong: its issue, the kind of document, where and what (regexes on the
    finding's sources and detail), and why."""

    issue: str
    kind: str
    source: str
    detail: str
    reason: str

    def covers(self, finding: Finding) -> bool:
        return (
            (finding.issue, finding.kind) == (self.issue, self.kind)
            and re.search(self.source, finding.source) is not None
            and re.search(self.detail, finding.detail) is not None
        )


def unexplained(findings: Iterable[Finding], allowed: Iterable[Allowed]) -> list[Finding]:
    allowed = list(allowed)
    return [f for f in findings if not any(a.covers(f) for a in allowed)]


def lint_file(path: Path) -> list[Finding]:
    """A plain JSON policy file (an operator's identity policy)."""
    return lint(path.read_text(), str(path), _kind(json.loads(path.read_text())))


def _configured(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configuration's resources by address without instance keys (module.bucket.aws_s3_bucket_policy.this)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any], prefix: str) -> None:
        for resource in module.get("resources", []):
            found[prefix + resource["address"]] = resource
        for name, call in module.get("module_calls", {}).items():
            walk(call.get("module", {}), f"{prefix}module.{name}.")

    walk(raw.get("configuration", {}).get("root_module", {}), "")
    return found


def unlintable(raw: dict[str, Any]) -> list[str]:
    """Policy attributes unknown at plan time that no policy document data source of the plan feeds.

    Such a document (an inline jsonencode naming a resource not created yet) is in no form the
    linter can read: write it as an aws_iam_policy_document, whose statements the plan shows.
    """
    configured = _configured(raw)
    missing = []
    for change in raw.get("resource_changes", []):
        if change["mode"] != "managed" or change["type"] not in POLICY_ATTRIBUTES:
            continue
        attribute, _ = POLICY_ATTRIBUTES[change["type"]]
        if isinstance((change["change"].get("after") or {}).get(attribute), str):
            continue
        if attribute not in (change["change"].get("after_unknown") or {}):
            continue  # not set at all
        resource = configured.get(re.sub(r"\[[^\]]*\]", "", change["address"]), {})
        references = resource.get("expressions", {}).get(attribute, {}).get("references", [])
        if not any(r.startswith("data.aws_iam_policy_document.") for r in references):
            missing.append(f"{change['address']}.{attribute} (from {references or 'a literal'})")
    return missing
