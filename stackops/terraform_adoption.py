"""What a failed apply says when the resources it tried to create exist already in AWS but not in
the state (a half-finished earlier apply, or made by hand): which, and the import that adopts each.

Read from Terraform's errors as text: its human output, or the `-json` stream's diagnostics as
`stackops.terraform_stream.diagnostic_text` writes them (`Error: SUMMARY`, then `with ADDRESS,`).
"""

from __future__ import annotations

import re
import shlex

from stackops.environments import Environment

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# "Error: creating IAM Role (exii-local-concept-task): ... EntityAlreadyExists: ..." then "with ADDRESS,".
# BucketAlreadyExists is not among them: that name belongs to another account, there is nothing to adopt.
_ALREADY_EXISTS = re.compile(
    r"Error: creating [^(\n]*?(?:\((?P<id>[^)\n]+)\))?:[^\n]*?"
    r"(?P<code>\b(?!BucketAlreadyExists\b)[\w.]*(?:AlreadyExists|Duplicate|AlreadyOwnedByYou|ResourceExists)[\w.]*)"
    r"[^\n]*\n(?:(?!Error:).*\n)*?\s*with (?P<address>[^,\n]+),"
)
# Resource types whose import ID is the name the provider's "creating X (NAME)" error gives; for
# the others (security groups, load balancers, queues, ...) the import ID is an id, ARN or URL.
IMPORTED_BY_NAME = frozenset({
    "aws_iam_role", "aws_ssm_parameter", "aws_s3_bucket", "aws_ecr_repository", "aws_cloudwatch_log_group",
    "aws_db_instance", "aws_db_subnet_group", "aws_dynamodb_table", "aws_ecs_cluster",
})  # fmt: skip


def _resource_type(address: str) -> str:
    """`module.ecs.aws_iam_role.task["concept"]` -> `aws_iam_role`."""
    parts = re.sub(r"\[[^]]*\]", "", address).split(".")
    return parts[-2] if len(parts) >= 2 else ""


def adoption_hint(stderr: str, env: Environment) -> str:
    """For an apply that failed on resources that exist in AWS but not in the state (a half-finished
    earlier apply, or made by hand): which, and the import command that adopts each."""
    text = "\n".join(line.lstrip("│ ").rstrip() for line in _ANSI.sub("", stderr).splitlines())
    found = {m["address"].strip(): (m["id"], m["code"]) for m in _ALREADY_EXISTS.finditer(text)}
    if not found:
        return ""
    commands = []
    for address, (name, _) in found.items():
        ident = shlex.quote(name) if name and _resource_type(address) in IMPORTED_BY_NAME else "ID"
        commands.append(f"inv tf --env {env.name} -- import {shlex.quote(address)} {ident}")
    codes = ", ".join(sorted({code for _, code in found.values()}))
    hint = (
        f"{', '.join(found)} already exist(s) in AWS ({codes}) but not in the state (a half-finished earlier "
        f"apply, or made outside Terraform): adopt with {'; '.join(commands)} (an ID is the import ID of the "
        "resource's Import section in the provider's documentation), then apply again"
    )
    if env.emulated:
        hint += "; or throw the embedded AWS away and start clean: inv up --fresh"
    else:
        hint += "; first make sure each one is this stack's and not another's of the same account"
    return hint
