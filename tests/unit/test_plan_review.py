"""stackops.plan_review: the review of a saved plan, on plain `show -json` shapes, then once on a real
plan of a built-in-only root (fixtures/plan_review_root) against its expected comment."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from stackops.plan_review import (
    COMMENT_LIMIT,
    STATEFUL_TYPES,
    Destructive,
    PlanReview,
    destructive,
    fence,
    review,
    to_json,
    to_markdown,
)
from stackops.terraform import terraform_binary

FIXTURE = Path(__file__).parent / "fixtures" / "plan_review_root"
SECRET = "s3cr3t-value"  # noqa: S105 (a test value): in the JSON's values only, never in a summary


def rc(address: str, *actions: str, mode: str = "managed", **extra: Any) -> dict[str, Any]:
    """One `resource_changes` entry as `terraform show -json` has it (values that must never be shown)."""
    kind = re.sub(r"\[[^]]*\]", "", address).split(".")[-2]
    change: dict[str, Any] = {
        "actions": list(actions),
        "before": {"password": SECRET},
        "after": {"password": SECRET},
        "before_sensitive": {"password": True},
        "after_sensitive": {"password": True},
    }
    change.update(extra.pop("change", {}))
    return {"address": address, "mode": mode, "type": kind, "name": kind, "change": change, **extra}


def plan_json(*changes: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"format_version": "1.2", "resource_changes": list(changes), **rest}


MIXED = plan_json(
    rc("aws_s3_bucket.assets", "create", "delete"),
    rc("aws_iam_role.task", "delete"),
    rc("aws_db_instance.main", "delete", "create"),
    rc("aws_security_group.web", "update"),
    rc("aws_ecs_service.web", "create"),
    rc("aws_ecs_cluster.main", "no-op"),
    rc("data.aws_caller_identity.current", "read", mode="data"),
    rc("aws_route53_zone.main", "delete"),
    resource_drift=[rc("aws_security_group.web", "update"), rc("data.aws_region.current", "read", mode="data")],
    output_changes={
        "url": {"actions": ["update"], "before": "a", "after": "b", "after_sensitive": False},
        "password": {"actions": ["create"], "before": None, "after": SECRET, "after_sensitive": True},
        "same": {"actions": ["no-op"], "before": "x", "after": "x"},
    },
)


# -- destructive -------------------------------------------------------------------------------------------------


def test_stateful_types_hold_the_data_stores():
    assert {
        "aws_db_instance", "aws_rds_cluster", "aws_s3_bucket", "aws_route53_zone", "aws_dynamodb_table",
        "aws_ecr_repository", "aws_efs_file_system", "aws_kms_key", "aws_secretsmanager_secret",
        "aws_cloudwatch_log_group",
    } <= STATEFUL_TYPES  # fmt: skip
    assert "aws_security_group" not in STATEFUL_TYPES


def test_destructive_lists_replacements_and_destroys_stateful_first_then_by_address():
    assert destructive(MIXED["resource_changes"]) == [
        Destructive("aws_db_instance.main", "aws_db_instance", "replace", True),
        Destructive("aws_route53_zone.main", "aws_route53_zone", "destroy", True),
        Destructive("aws_s3_bucket.assets", "aws_s3_bucket", "replace", True),  # create_before_destroy
        Destructive("aws_iam_role.task", "aws_iam_role", "destroy", False),
    ]


def test_destructive_ignores_data_sources_and_every_other_action():
    changes = [
        rc("data.aws_s3_bucket.logs", "delete", mode="data"),
        rc("aws_s3_bucket.kept", "no-op"),
        rc("aws_s3_bucket.tagged", "update"),
        rc("aws_s3_bucket.new", "create"),
        rc("aws_s3_bucket.forgotten", "forget"),
    ]
    assert destructive(changes) == []
    assert destructive(None) == []
    assert destructive([]) == []


# -- review ------------------------------------------------------------------------------------------------------


def test_review_counts_and_sorts_the_changes():
    plan = review(MIXED, "the text", "dev")
    assert plan.environment == "dev"
    assert plan.counts == {"add": 1, "change": 1, "replace": 2, "destroy": 2, "import": 0, "move": 0, "forget": 0}
    assert [(c.address, c.type, c.action) for c in plan.changes] == [
        ("aws_ecs_service.web", "aws_ecs_service", "add"),
        ("aws_security_group.web", "aws_security_group", "change"),
    ]
    assert [(d.address, d.actions) for d in plan.drift] == [("aws_security_group.web", ("update",))]
    outputs = [(o.name, o.action, o.sensitive) for o in plan.outputs]
    assert outputs == [("password", "add", True), ("url", "change", False)]
    assert plan.plan_text == "the text"
    assert plan.has_changes


def test_review_counts_imports_and_moves_also_when_they_change():
    plan = review(
        plan_json(
            rc("aws_s3_bucket.adopted", "no-op", change={"importing": {"id": "bucket"}}),
            rc("aws_iam_role.adopted", "update", change={"importing": {"id": "role"}}),
            rc("aws_iam_role.renamed", "no-op", previous_address="aws_iam_role.old"),
            rc('module.web.aws_ecs_service.this["a"]', "update", previous_address="aws_ecs_service.web"),
            rc("aws_kms_key.main", "forget"),
        ),
        "",
        "prod",
    )
    assert plan.counts == {"add": 0, "change": 2, "replace": 0, "destroy": 0, "import": 2, "move": 2, "forget": 1}
    assert [(c.address, c.action, c.previous_address, c.importing) for c in plan.changes] == [
        ("aws_iam_role.adopted", "change", "", True),
        ('module.web.aws_ecs_service.this["a"]', "change", "aws_ecs_service.web", False),
        ("aws_s3_bucket.adopted", "import", "", True),
        ("aws_iam_role.renamed", "move", "aws_iam_role.old", False),
        ("aws_kms_key.main", "forget", "", False),
    ]
    text = to_markdown(plan)
    assert text.splitlines()[1] == (
        "### Terraform plan for prod: 0 to add, 2 to change, 0 to replace, 0 to destroy, 2 to import, 2 to move, "
        "1 to forget"
    )
    moved = '| change | `module.web.aws_ecs_service.this["a"]` | `aws_ecs_service` | moved from `aws_ecs_service.web` |'
    assert moved in text
    assert "| change | `aws_iam_role.adopted` | `aws_iam_role` | imported |" in text


# -- markdown ----------------------------------------------------------------------------------------------------


def test_markdown_marker_heading_then_destroyed_then_other_changes_then_drift_then_the_plan():
    text = to_markdown(review(MIXED, "Terraform will perform the following actions:\n", "dev"))
    lines = text.splitlines()
    assert lines[0] == "<!-- stackops-plan:dev -->"
    assert lines[1] == "### Terraform plan for dev: 1 to add, 1 to change, 2 to replace, 2 to destroy"
    positions = [
        text.index(heading)
        for heading in ("#### Replaced or destroyed", "#### Other changes", "#### Changed outside Terraform",
                        "<details><summary>Full plan</summary>")
    ]  # fmt: skip
    assert positions == sorted(positions)
    assert "| **replace** | **`aws_db_instance.main`** | `aws_db_instance` | **stateful** |" in lines
    assert "| destroy | `aws_iam_role.task` | `aws_iam_role` |  |" in lines
    assert "| `aws_security_group.web` | update |" in lines
    assert "| add | `password` (sensitive) |" in lines
    assert text.endswith("```text\nTerraform will perform the following actions:\n```\n\n</details>\n")


def test_markdown_has_no_drift_section_without_drift():
    text = to_markdown(review(plan_json(rc("aws_iam_role.task", "update")), "plan", "dev"))
    assert "Changed outside Terraform" not in text
    assert "Replaced or destroyed" not in text


def test_no_changes_is_marker_and_heading():
    plan = review(plan_json(rc("aws_iam_role.task", "no-op")), "\nNo changes. Your infrastructure matches.\n", "dev")
    assert not plan.has_changes
    assert to_markdown(plan) == "<!-- stackops-plan:dev -->\n### Terraform plan for dev: no changes\n"
    empty = to_markdown(review({}, "", "prod"))
    assert empty == "<!-- stackops-plan:prod -->\n### Terraform plan for prod: no changes\n"


def test_no_changes_still_shows_what_changed_outside_terraform():
    plan = review(plan_json(resource_drift=[rc("aws_s3_bucket.logs", "delete")]), "Note: Objects have changed", "dev")
    text = to_markdown(plan)
    assert text.startswith("<!-- stackops-plan:dev -->\n### Terraform plan for dev: no changes\n")
    assert "| `aws_s3_bucket.logs` | delete |" in text
    assert "<details>" not in text


def test_fence_is_longer_than_any_backtick_run():
    assert fence("no backticks") == "```"
    assert fence("a ` b `` c") == "```"
    assert fence("```\n`````` six") == "```````"
    plan_text = 'description = "```\n``````\nend"\n``````'
    text = to_markdown(review(plan_json(rc("aws_iam_role.task", "update")), plan_text, "dev"))
    assert f"```````text\n{plan_text}\n```````\n" in text


def test_table_cells_survive_pipes_and_backticks_in_keys():
    text = to_markdown(review(plan_json(rc('aws_iam_role.task["a|`b`"]', "update")), "", "dev"))
    assert '| change | ``aws_iam_role.task["a\\|`b`"]`` | `aws_iam_role` |  |' in text
    assert "<details>" not in text  # no plan text, no empty block


def test_sensitive_values_stay_hidden():
    plan_text = "  ~ password = (sensitive value)\n"
    plan = review(MIXED, plan_text, "dev")
    text = to_markdown(plan)
    data = json.dumps(to_json(plan))
    assert SECRET not in text
    assert SECRET not in data
    assert "(sensitive value)" in text  # Terraform's own text, as it is
    assert "`password` (sensitive)" in text  # the summary's


def test_a_long_plan_is_cut_inside_the_details_never_the_tables():
    many = plan_json(*(rc(f'aws_iam_role.task["{i:04}"]', "update") for i in range(300)))
    plan_text = "".join(f"  # line {i:06} " + "x" * 80 + "\n" for i in range(2000))  # ~190,000 characters
    plan = review(many, plan_text, "dev")
    text = to_markdown(plan)
    assert len(text) <= COMMENT_LIMIT
    assert all(f'`aws_iam_role.task["{i:04}"]`' in text for i in range(300))
    kept = text.split("```text\n", 1)[1].split("\n```\n", 1)[0]
    assert plan_text.startswith(kept + "\n")  # at a line's end
    assert f"_plan cut at {len(kept)} characters; the full plan is in the log_\n\n</details>\n" in text
    assert len(text) > COMMENT_LIMIT - 200  # what fits is kept


def test_a_plan_that_fits_is_not_cut():
    plan_text = "y" * 1000
    text = to_markdown(review(plan_json(rc("aws_iam_role.task", "update")), plan_text, "dev"))
    assert plan_text in text
    assert "plan cut" not in text
    text = to_markdown(review(plan_json(rc("aws_iam_role.task", "update")), plan_text, "dev"), limit=600)
    assert len(text) <= 600
    assert "_plan cut at " in text


# -- to_json -----------------------------------------------------------------------------------------------------


def test_to_json_is_plain_data_without_values():
    data = to_json(review(MIXED, "text", "dev"))
    assert json.loads(json.dumps(data)) == data
    assert set(data) >= {"environment", "has_changes", "counts", "destructive", "changes", "drift"}
    assert data["environment"] == "dev"
    assert data["has_changes"] is True
    assert data["counts"]["replace"] == 2
    assert data["destructive"][0] == {
        "address": "aws_db_instance.main", "type": "aws_db_instance", "action": "replace", "stateful": True,
    }  # fmt: skip
    assert [c["address"] for c in data["changes"]] == ["aws_ecs_service.web", "aws_security_group.web"]
    assert data["drift"] == [{"address": "aws_security_group.web", "actions": ["update"]}]
    assert "text" not in json.dumps(data["changes"])


def test_to_json_of_no_changes():
    data = to_json(review({}, "", "dev"))
    assert data["has_changes"] is False
    assert data["destructive"] == data["changes"] == data["drift"] == []
    assert set(data["counts"].values()) == {0}


def test_review_is_a_plan_review():
    assert isinstance(review({}, "", "dev"), PlanReview)


# -- a real plan -------------------------------------------------------------------------------------------------

UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def normalise(text: str) -> str:
    """terraform_data ids are random UUIDs: the only thing that varies between runs."""
    return UUID.sub("<uuid>", text)


def test_a_real_plan_renders_the_expected_comment(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("expected.md", ".terraform*", "*.tfstate*"))
    rc_file = tmp_path / "terraform.rc"
    rc_file.write_text("")
    # None of the caller's TF_* (TF_CLI_ARGS, TF_VAR_*, TF_DATA_DIR...) reaches this plan.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    environ.update(TF_IN_AUTOMATION="1", TF_CLI_CONFIG_FILE=str(rc_file))

    def terraform(*args: str) -> str:
        result = subprocess.run(
            [terraform_binary(), *args], cwd=root, env=environ, capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode in (0, 2), f"terraform {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout

    terraform("init", "-input=false", "-no-color")
    terraform("apply", "-auto-approve", "-input=false", "-no-color")
    changed = ["-var=extra=true", "-var=setting=two", "-var=generation=2", "-var=token=second-token"]
    terraform("plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=review.tfplan", *changed)
    shown = json.loads(terraform("show", "-json", "review.tfplan"))
    text = terraform("show", "-no-color", "review.tfplan")

    plan = review(shown, text, "dev")
    assert (plan.counts["add"], plan.counts["change"], plan.counts["replace"], plan.counts["destroy"]) == (1, 1, 1, 0)
    actual = normalise(to_markdown(plan))
    assert "second-token" not in actual
    assert "first-token" not in actual
    expected = normalise((FIXTURE / "expected.md").read_text())
    if actual != expected:
        (tmp_path / "actual.md").write_text(actual)
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), actual.splitlines(keepends=True), "expected.md", "actual.md"
            )
        )
        raise AssertionError(f"the comment differs from {FIXTURE / 'expected.md'} ({tmp_path / 'actual.md'}):\n{diff}")
