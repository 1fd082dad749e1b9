"""dev, prod and local each plan with their own files; prod's differences from dev are asserted.

The root configuration is planned once per environment, with that environment's
variables.tfvars, on the emulated AWS: the profiles exiidev/exiiprod/exiimaster assume roles in
the accounts dev and prod declare (placeholders 111111111111, 222222222222, 000000000000), where
the catalogue's secrets exist as stand-ins (`inv secrets` on the emulator). Each plan runs on a
copy of the root with a local backend (the state backend is not what is tested here), in its own
folder, and the three run at once.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackops import environments, operator_policies
from stackops.app_secrets.catalogue import load_catalogue
from stackops.app_secrets.sync import sync
from stackops.certs.package import renewer_package
from stackops.jobs.catalogue import check_environment
from stackops.local import emulator
from tests.e2e.fixtures.accounts import DECLARED, account_session, write_config
from tests.modules.test_secret_access_policy import denied
from tests.planner import Plan, offline_environ, run_plan
from tests.unit.test_operator_policies import WITHOUT_RESOURCE_TYPES

pytestmark = pytest.mark.e2e

ENVIRONMENTS = ("dev", "prod", "local")
ROOT_FILES = ("modules", "task-definitions", "operator-policies", "secrets.yaml", "jobs.yaml")
LOCAL_BACKEND = 'terraform {\n  backend "local" {}\n}\n'


@dataclass
class EnvironmentPlan:
    env: environments.Environment
    plan: Plan
    leaked: list[str]  # catalogue secrets whose stand-in value appears anywhere in the plan JSON
    secrets_checked: int


def copy_root(target: Path) -> Path:
    """The root configuration (not its state, lock file or environments), with a local backend."""
    target.mkdir(parents=True)
    for tf in environments.ROOT.glob("*.tf"):
        shutil.copy(tf, target)
    for name in ROOT_FILES:
        source = environments.ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target / name)
    (target / "backend_override.tf").write_text(LOCAL_BACKEND)
    return target


def stand_in_values(session: Any, env: environments.Environment) -> dict[str, str]:
    """Create the catalogue's secrets in the environment's account (as `inv secrets` would); their values."""
    catalogue = load_catalogue()
    report = sync(session, env.secret_prefix, catalogue, emulated=True)
    assert not report.failed, report.missing
    client = session.client("secretsmanager")
    return {s.name: client.get_secret_value(SecretId=s.full_name(env.secret_prefix))["SecretString"] for s in catalogue}


def plan_all(workdir: Path) -> dict[str, EnvironmentPlan]:
    aws = emulator.environ()
    declared_profiles = write_config(workdir / "aws", DECLARED)
    jobs = {}
    for name in ENVIRONMENTS:
        env = environments.load(name)
        if env.emulated:  # the emulator's own profiles (exii-local, exii-local-master)
            session, variables = env.session(), aws
        else:
            session, variables = account_session(env.account_id), {**aws, **declared_profiles}
        values = stand_in_values(session, env)
        folder = workdir / name
        root = copy_root(folder / "root")
        package = {"TF_VAR_cert_renewer_package": str(renewer_package(env).path)}  # as `inv plan` passes it
        jobs[name] = (env, values, root, {**offline_environ(folder), **variables, **package})

    def plan_one(name: str) -> EnvironmentPlan:
        env, values, root, environ = jobs[name]
        plan = run_plan(root, environ, env.tfvars_path)
        text = json.dumps(plan.raw)
        leaked = sorted(secret for secret, value in values.items() if value in text)
        return EnvironmentPlan(env=env, plan=plan, leaked=leaked, secrets_checked=len(values))

    with ThreadPoolExecutor(max_workers=len(ENVIRONMENTS)) as pool:
        return dict(zip(ENVIRONMENTS, pool.map(plan_one, ENVIRONMENTS), strict=True))


# -- helpers reading a plan ---------------------------------------------------------------------------


def values(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return list(plan.of_type(kind).values())


def container_insights(cluster: dict[str, Any]) -> str:
    return next(s["value"] for s in cluster["setting"] if s["name"] == "containerInsights")


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


@dataclass
class Statement:
    effect: str
    actions: list[str]
    resources: list[str]  # the ones known at plan time (ARNs of resources yet to be created are not)


def policy_statements(raw: dict[str, Any]) -> dict[str, list[Statement]]:
    """Every IAM policy statement in the plan, by where it comes from.

    Three places: policy JSON known at plan time (roles, role policies); policy documents read
    during the plan (prior_state); and those read at apply because they name resources not yet
    created (resource_changes of `data` mode, their statements known but for the ARNs).
    """
    found: dict[str, list[Statement]] = {}

    def add(address: str, effect: str | None, actions: Any, not_actions: Any, resources: Any) -> None:
        known = [r for r in _as_list(resources) if isinstance(r, str)]
        statement = Statement(effect or "Allow", _as_list(actions) + _as_list(not_actions), known)
        found.setdefault(address, []).append(statement)

    def add_json(address: str, text: Any) -> None:
        if isinstance(text, str) and text.strip().startswith("{"):
            for st in _statements(json.loads(text)):
                add(address, st.get("Effect"), st.get("Action"), st.get("NotAction"), st.get("Resource"))

    for change in raw.get("resource_changes", []):
        after = change["change"].get("after") or {}
        if change["mode"] == "data" and change["type"] == "aws_iam_policy_document":
            for st in after.get("statement") or []:
                add(change["address"], st.get("effect"), st.get("actions"), st.get("not_actions"), st.get("resources"))
        elif change["mode"] == "managed":
            for key in ("policy", "assume_role_policy"):
                add_json(change["address"], after.get(key))

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource["mode"] == "data" and resource["type"] == "aws_iam_policy_document":
                add_json(resource["address"], resource["values"].get("json"))
        for child in module.get("child_modules", []):
            walk(child)

    walk(raw.get("prior_state", {}).get("values", {}).get("root_module", {}))
    return found


# -- every environment --------------------------------------------------------------------------------


def test_each_environment_plans_with_its_own_files(each: EnvironmentPlan) -> None:
    variables = each.plan.raw["variables"]
    assert variables["stage"]["value"] == each.env.name
    assert variables["account_id"]["value"] == each.env.account_id
    assert variables["zone_name"]["value"] == each.env.zone_name
    assert values(each.plan, "aws_route53_zone")[0]["name"] == each.env.zone_name
    assert {r["name"] for r in values(each.plan, "aws_ecs_cluster")} == {
        f"exii-{each.env.name}",
        f"exii-{each.env.name}-batch",
    }
    # Secrets are looked up in the environment's own account, under its own prefix.
    arns = each.plan.outputs.get("secret_arns") or {}
    if not arns:  # the output is known once the data sources are read, which they are at plan time
        arns = each.plan.raw["output_changes"]["secret_arns"]["after"]
    assert arns and all(
        arn.startswith(f"arn:aws:secretsmanager:eu-west-2:{each.env.account_id}:secret:{each.env.secret_prefix}")
        for arn in arns.values()
    )


def test_no_secret_value_is_in_the_plan(each: EnvironmentPlan) -> None:
    assert each.secrets_checked >= 20
    assert each.leaked == []


def test_http_forwards_until_there_is_a_certificate(each: EnvironmentPlan) -> None:
    listeners = values(each.plan, "aws_lb_listener")
    assert len(listeners) == 2  # one per service, HTTP only: no HTTPS listener without a certificate
    for listener in listeners:
        assert (listener["port"], listener["protocol"]) == (80, "HTTP")
        assert [action["type"] for action in listener["default_action"]] == ["forward"]
    assert each.plan.outputs["certificate_arn"] is None


def test_seven_queues_and_six_buckets_named_for_the_environment(each: EnvironmentPlan) -> None:
    name, account = f"exii-{each.env.name}", each.env.account_id
    queues = sorted(q["name"] for q in values(each.plan, "aws_sqs_queue"))
    jobs = [job.name for job in check_environment(each.env)]
    assert len(queues) == 7 + len(jobs)  # the application's, and each job's dead-letter queue
    assert {f"{name}-job-{job}-dead-letter" for job in jobs} <= set(queues)
    assert all(q.startswith(f"{name}-") for q in queues)
    buckets = sorted(b["bucket"] for b in values(each.plan, "aws_s3_bucket"))
    assert buckets == sorted(f"{name}-{purpose}-{account}" for purpose in
                             ("log", "staging", "trigger", "input", "model", "report"))  # fmt: skip


def test_only_the_buckets_logging_waits_for_the_log_bucket(plans: dict[str, EnvironmentPlan]) -> None:
    # Not the whole bucket module (a module-level depends_on held every bucket, and so the services'
    # settings, behind the log bucket's lifecycle rules, which the provider waits on for a minute).
    calls = plans["local"].plan.raw["configuration"]["root_module"]["module_calls"]
    assert "depends_on" not in calls["bucket"]
    assert calls["bucket"]["expressions"]["access_log_bucket"]["references"][0] == "module.log_bucket.log_target"
    outputs = calls["log_bucket"]["module"]["outputs"]
    assert outputs["log_target"]["depends_on"] == ["aws_s3_bucket_policy.this"]


def test_no_iam_policy_allows_every_action(each: EnvironmentPlan) -> None:
    found = policy_statements(each.plan.raw)
    # The documents that matter are all seen, known or read at apply.
    assert any(a.endswith("data.aws_iam_policy_document.django_task") for a in found), sorted(found)
    assert any("aws_iam_role_policy.execution_secrets" in a for a in found), sorted(found)
    assert any("aws_iam_role.execution" in a for a in found), sorted(found)
    for address, statements in found.items():
        for st in statements:
            assert st.actions, f"{address}: a statement without actions"
            assert "*" not in st.actions, f"{address}: {st.effect} on every action"
            if st.effect == "Allow":  # a whole service (s3:*) only ever appears in a Deny
                assert not [a for a in st.actions if a.endswith(":*")], f"{address}: allows {st.actions}"


# Allow statements that may name every resource, each with the reason. Empty today: the one place
# AWS requires "*" (ecr:GetAuthorizationToken, logs for any task) comes from the AWS-managed
# AmazonECSTaskExecutionRolePolicy, attached by ARN rather than written here.
# Actions with no resource-level permission (the Service Authorization Reference lists no resource
# type for them): "*" is the only resource AWS accepts.
_RENEWER = "module.cert_renewer.data.aws_iam_policy_document.function"
WILDCARD_RESOURCES_ALLOWED: dict[tuple[str, str], str] = {
    (_RENEWER, "route53:ListHostedZones"): "choosing each name's zone; no resource type",
    (_RENEWER, "acm:ListCertificates"): "finding the tool's certificates; no resource type",
    (_RENEWER, "cloudwatch:PutMetricData"): "no resource type; held to one namespace by cloudwatch:namespace",
}


# The CI roles' managed policies are operator-policies/*.json: `*` only for the actions AWS gives no
# resource type (tests/unit/test_operator_policies.py keeps that list, with its source).
CI_POLICIES = "module.ci_roles[0].aws_iam_policy.this["


def test_no_allow_statement_names_every_resource(each: EnvironmentPlan) -> None:
    for address, statements in policy_statements(each.plan.raw).items():
        for st in statements:
            if st.effect != "Allow" or "*" not in st.resources:
                continue
            if address.startswith(CI_POLICIES):  # the operator policies, held to their own list
                unexplained = [a for a in st.actions if a not in WITHOUT_RESOURCE_TYPES]
            else:
                unexplained = [a for a in st.actions if (address.split("[")[0], a) not in WILDCARD_RESOURCES_ALLOWED]
            assert not unexplained, f"{address}: allows {unexplained} on every resource"


def test_task_roles_reach_only_their_own_environment(each: EnvironmentPlan) -> None:
    """Every resource a task role or the execution role may touch belongs to this environment."""
    env = each.env
    own = (f"{env.project}-{env.name}-", f"/{env.project}/{env.name}/")
    found = policy_statements(each.plan.raw)
    roles = {a: sts for a, sts in found.items() if a.endswith(("django_task", "concept_task", "execution_secrets"))}
    assert len(roles) >= 3, sorted(found)
    checked = 0
    for address, statements in roles.items():
        for st in statements:
            for resource in st.resources:
                path = resource.endswith(f":parameter/{env.project}/{env.name}")  # GetParametersByPath's own
                assert path or any(m in resource for m in own), f"{address}: {resource} is not {env.name}'s"
                assert env.account_id in resource or resource.startswith("arn:aws:s3:::"), (address, resource)
                checked += 1
    assert checked >= 3  # the parameter, task and secret ARNs are known at plan time


# -- what differs -------------------------------------------------------------------------------------


def test_dev_is_small_and_disposable(plans: dict[str, EnvironmentPlan]) -> None:
    plan = plans["dev"].plan
    assert plan.counts["aws_nat_gateway"] == 1
    db = plan.one("aws_db_instance")
    assert db["multi_az"] is False
    assert db["deletion_protection"] is False
    assert db["skip_final_snapshot"] is True
    assert db["backup_retention_period"] == 7
    # A destroy deletes the repositories with their images (the pipelines push them again).
    repositories = values(plan, "aws_ecr_repository")
    assert len(repositories) == 4 and {r["force_delete"] for r in repositories} == {True}
    assert [lb["enable_deletion_protection"] for lb in values(plan, "aws_lb")] == [False, False]
    assert {container_insights(c) for c in values(plan, "aws_ecs_cluster")} == {"disabled"}
    assert {(t["min_capacity"], t["max_capacity"]) for t in values(plan, "aws_appautoscaling_target")} == {(1, 2)}


def test_prod_survives_an_az_and_refuses_accidents(plans: dict[str, EnvironmentPlan]) -> None:
    plan = plans["prod"].plan
    assert plan.counts["aws_nat_gateway"] == 2  # per_az: one per AZ
    db = plan.one("aws_db_instance")
    assert db["instance_class"] == "db.t4g.small"
    assert db["multi_az"] is True
    assert db["deletion_protection"] is True
    assert db["skip_final_snapshot"] is False
    # Unique per database (the time of the plan that created it): a re-created prod can be destroyed again.
    assert re.fullmatch(r"exii-prod-final-\d{14}", db["final_snapshot_identifier"]), db["final_snapshot_identifier"]
    assert {b["force_destroy"] for b in values(plan, "aws_s3_bucket")} == {False}  # data is never deleted with it
    assert {r["force_delete"] for r in values(plan, "aws_ecr_repository")} == {False}  # nor the images it runs
    assert db["backup_retention_period"] == 14
    # What the tool reads to snapshot before a migration and to prune its snapshots (db_snapshot_keep).
    database = plan.raw["output_changes"]["database"]  # its endpoint is unknown until apply
    assert (database["after"]["identifier"], database["after"]["snapshot_keep"]) == ("exii-prod", 10)
    targets = values(plan, "aws_appautoscaling_target")
    assert len(targets) == 2
    assert {(t["min_capacity"], t["max_capacity"]) for t in targets} == {(2, 6)}
    clusters = values(plan, "aws_ecs_cluster")
    assert len(clusters) == 2
    assert {container_insights(c) for c in clusters} == {"enabled"}
    assert [lb["enable_deletion_protection"] for lb in values(plan, "aws_lb")] == [True, True]


# What `local` turns off and prod turns on, as (local's value, prod's value). The Prowler mutelist
# mutes these findings for local only, citing this test for the prod value.
LOCAL_OFF_PROD_ON = {
    "database deletion protection": (False, True),  # rds_instance_deletion_protection
    "database Multi-AZ": (False, True),  # rds_instance_multi_az
    "database final snapshot": (False, True),
    "database backups kept (days)": (1, 14),  # rds_instance_backup_enabled passes on either
    "container insights on every cluster": ({"disabled"}, {"enabled"}),  # ecs_cluster_container_insights_enabled
    "load balancer deletion protection": ({False}, {True}),  # elbv2_deletion_protection
    "buckets kept on destroy": ({False}, {True}),
    "repositories kept on destroy": ({False}, {True}),
    "NAT gateways (one per AZ in prod)": (1, 2),
    "fewest tasks per service": ({1}, {2}),
}


def protections(plan: Plan) -> dict[str, Any]:
    db = plan.one("aws_db_instance")
    return {
        "database deletion protection": db["deletion_protection"],
        "database Multi-AZ": db["multi_az"],
        "database final snapshot": not db["skip_final_snapshot"],
        "database backups kept (days)": db["backup_retention_period"],
        "container insights on every cluster": {container_insights(c) for c in values(plan, "aws_ecs_cluster")},
        "load balancer deletion protection": {lb["enable_deletion_protection"] for lb in values(plan, "aws_lb")},
        "buckets kept on destroy": {not b["force_destroy"] for b in values(plan, "aws_s3_bucket")},
        "repositories kept on destroy": {not r["force_delete"] for r in values(plan, "aws_ecr_repository")},
        "NAT gateways (one per AZ in prod)": plan.counts["aws_nat_gateway"],
        "fewest tasks per service": {t["min_capacity"] for t in values(plan, "aws_appautoscaling_target")},
    }


def test_prod_has_on_what_local_turns_off(plans: dict[str, EnvironmentPlan]) -> None:
    assert protections(plans["local"].plan) == {name: off for name, (off, _) in LOCAL_OFF_PROD_ON.items()}
    assert protections(plans["prod"].plan) == {name: on for name, (_, on) in LOCAL_OFF_PROD_ON.items()}


def test_prod_differs_from_dev_only_where_it_must(plans: dict[str, EnvironmentPlan]) -> None:
    dev, prod = plans["dev"].plan.counts, plans["prod"].plan.counts
    differences = {kind: (dev[kind], prod[kind]) for kind in set(dev) | set(prod) if dev[kind] != prod[kind]}
    # The same stack, sized and protected differently; only the second NAT gateway (and its address) is extra.
    assert differences == {"aws_nat_gateway": (1, 2), "aws_eip": (1, 2)}


def test_jobs_run_on_the_batch_cluster_in_the_private_subnets(each: EnvironmentPlan) -> None:
    """The root's wiring of modules/scheduled-job (its plan tests check what it does with them)."""
    call = each.plan.raw["configuration"]["root_module"]["module_calls"]["job"]
    wiring = {name: sorted(value.get("references", [])) for name, value in call["expressions"].items()}
    assert "module.batch.cluster_arn" in wiring["cluster_arn"]
    assert "module.network.private_subnet_ids" in wiring["subnet_ids"]
    assert "local.execution_role_arn" in wiring["execution_role_arn"]  # modules/ecs's role, by its name
    name = f"exii-{each.env.name}"
    schedules = {s["name"]: s for s in values(each.plan, "aws_scheduler_schedule")}
    job = schedules[f"{name}-job-clearsessions"]
    assert (job["schedule_expression"], job["schedule_expression_timezone"]) == ("cron(30 3 * * ? *)", "Europe/London")
    [target] = job["target"]
    assert target["ecs_parameters"][0]["launch_type"] == "FARGATE"
    # The database admits each job's security group, next to the services'.
    database = each.plan.raw["configuration"]["root_module"]["module_calls"]["database"]["expressions"]
    assert "module.job" in database["allowed_security_group_ids"]["references"]


def test_local_addresses_s3_path_style(plans: dict[str, EnvironmentPlan]) -> None:
    path_style = {name: p.plan.raw["variables"]["s3_use_path_style"]["value"] for name, p in plans.items()}
    assert path_style == {"dev": False, "prod": False, "local": True}
    provider = plans["local"].plan.raw["configuration"]["provider_config"]["aws"]["expressions"]
    assert provider["s3_use_path_style"]["references"] == ["var.s3_use_path_style"]


def test_alarms_and_deployment_alarms_per_environment(plans: dict[str, EnvironmentPlan]) -> None:
    def thresholds(name: str) -> dict[str, Any]:
        alarms = {a["alarm_name"]: a for a in values(plans[name].plan, "aws_cloudwatch_metric_alarm")}
        prefix = f"exii-{name}"
        return {
            "5xx": alarms[f"{prefix}-django-5xx-rate"]["threshold"],
            "p95": alarms[f"{prefix}-concept-response-time-p95"]["threshold"],
            "storage": alarms[f"{prefix}-db-free-storage"]["threshold"],
            "connections": alarms[f"{prefix}-db-connections"]["threshold"],
            "cpu": alarms[f"{prefix}-django-cpu"]["threshold"],
        }

    gib = 1024**3
    defaults = {"5xx": 5, "p95": 2, "storage": 2 * gib, "connections": 80, "cpu": 85}
    assert thresholds("dev") == thresholds("local") == defaults
    # prod's own (environments/prod/variables.tfvars), the rest are the defaults
    assert thresholds("prod") == {**defaults, "5xx": 2, "p95": 1, "storage": 5 * gib, "connections": 180}
    for name, each in plans.items():
        # One topic per environment, no subscriber in these tfvars; the renewal alarms use it too.
        [topic] = values(each.plan, "aws_sns_topic")
        assert topic["name"] == f"exii-{name}-alarms"
        assert each.plan.counts["aws_cloudwatch_metric_alarm"] == 2 * 5 + 3 + 2
        services = {s["name"]: s for s in values(each.plan, "aws_ecs_service")}
        for key in ("concept", "django"):
            [alarms] = services[f"exii-{name}-{key}"]["alarms"]
            assert alarms == {
                "alarm_names": [f"exii-{name}-{key}-5xx-rate", f"exii-{name}-{key}-unhealthy-hosts"],
                "enable": True,
                "rollback": True,
            }


# -- the service roles' trust and the secrets' resource policies -------------------------------------

# The source ARN each service documents for its role's confused-deputy guard (none for Lambda's
# execution role: modules/cert-renewer says why).
SOURCE_ARNS = {
    "ecs-tasks.amazonaws.com": r"arn:aws:ecs:eu-west-2:{account}:\*",
    "vpc-flow-logs.amazonaws.com": r"arn:aws:ec2:eu-west-2:{account}:vpc-flow-log/\*",
    "scheduler.amazonaws.com": r"arn:aws:scheduler:eu-west-2:{account}:schedule(-group/default|/default/[a-z0-9-]+)",
}


def test_every_service_role_trusts_its_service_for_this_account_only(each: EnvironmentPlan) -> None:
    """The cross-service confused-deputy guard (Prowler's iam_role_cross_service_confused_deputy_prevention)."""
    account = each.env.account_id
    services: dict[str, int] = {}
    for role in values(each.plan, "aws_iam_role"):
        for statement in _statements(json.loads(role["assume_role_policy"])):
            service = statement.get("Principal", {}).get("Service")
            if service is None:  # the CI roles: web identity, held to the repository (modules/ci-roles)
                continue
            services[service] = services.get(service, 0) + 1
            name = role.get("name") or role["name_prefix"]
            condition = statement.get("Condition", {})
            assert condition.get("StringEquals", {}).get("aws:SourceAccount") == account, (name, condition)
            if service == "lambda.amazonaws.com":
                assert set(condition) == {"StringEquals"}, (name, condition)
                continue
            [test] = [operator for operator in condition if operator.startswith("Arn")]
            sources = _as_list(condition[test]["aws:SourceArn"])
            pattern = SOURCE_ARNS[service].format(account=account)
            assert sources and all(re.fullmatch(pattern, arn) for arn in sources), (name, sources)
    jobs = len(check_environment(each.env))
    assert services == {
        "ecs-tasks.amazonaws.com": 3 + jobs,  # the execution role, two task roles, each job's task role
        "scheduler.amazonaws.com": 1 + jobs,  # the renewer's and each job's schedule
        "vpc-flow-logs.amazonaws.com": 1,
        "lambda.amazonaws.com": 1,
    }


def _secret_policies(each: EnvironmentPlan) -> dict[str, dict[str, Any]]:
    """Each catalogue secret's resource policy, by the secret's name."""
    arns = each.plan.outputs.get("secret_arns") or each.plan.raw["output_changes"]["secret_arns"]["after"]
    by_arn = {arn: name for name, arn in arns.items()}
    policies = {}
    for policy in values(each.plan, "aws_secretsmanager_secret_policy"):
        assert policy["block_public_policy"] is True
        policies[by_arn[policy["secret_arn"]]] = json.loads(policy["policy"])
    assert sorted(policies) == sorted(arns)  # one per secret of the catalogue, on that secret
    return policies


def _granted_on(document: dict[str, Any], secret_arn: str) -> set[str]:
    """The Secrets Manager actions an operator policy allows on the secret (ListSecrets names no secret)."""
    return {
        action
        for statement in _statements(document)
        for action in _as_list(statement["Action"])
        if action.startswith("secretsmanager:")
        and action not in WITHOUT_RESOURCE_TYPES
        and any(fnmatch.fnmatchcase(secret_arn, pattern) for pattern in _as_list(statement["Resource"]))
    }


def test_every_secret_is_denied_to_all_but_the_stack_and_its_administrators(each: EnvironmentPlan) -> None:
    env, account = each.env, each.env.account_id
    role = f"arn:aws:iam::{account}:role/exii-{env.name}"
    administrators = each.plan.raw["variables"]["secret_administrators"]["value"]
    arns = each.plan.outputs.get("secret_arns") or each.plan.raw["output_changes"]["secret_arns"]["after"]
    plan_policy = operator_policies.render("plan", env)  # what the CI plan role holds (ci.tf)
    rotate = {f"secretsmanager:{a}" for a in ("DescribeSecret", "GetSecretValue", "PutSecretValue", "TagResource")}
    for name, policy in _secret_policies(each).items():
        for stranger in (f"arn:aws:iam::{account}:root", f"{role}-django-task", f"{role}-job-clearsessions-task"):
            assert denied(policy, "secretsmanager:GetSecretValue", stranger), (name, stranger)
        # `inv secrets` (create, rotate) and Terraform by hand: the administrators are held by their own policies.
        for administrator in administrators:
            assert not any(denied(policy, action, administrator) for action in rotate), (name, administrator)
        # The execution role injects every secret of the catalogue, and may do nothing else with it.
        assert not denied(policy, "secretsmanager:GetSecretValue", f"{role}-task-execution"), name
        assert denied(policy, "secretsmanager:PutSecretValue", f"{role}-task-execution"), name
        # The CI roles plan (and apply): what plan.json grants on the secret, and the apply role writes the policy.
        for action in _granted_on(plan_policy, arns[name]):
            assert not denied(policy, action, f"{role}-ci-plan"), (name, action)
            assert not denied(policy, action, f"{role}-ci-apply"), (name, action)
        assert not denied(policy, "secretsmanager:PutResourcePolicy", f"{role}-ci-apply"), name
        assert denied(policy, "secretsmanager:PutResourcePolicy", f"{role}-ci-plan"), name
        reads = not denied(policy, "secretsmanager:GetSecretValue", f"{role}-ci-plan")
        assert reads == (name == "db-password"), name  # the ephemeral password, the one value a plan reads


# -- what Prowler checks on the deployed stack, at its source ------------------------------------------


def test_every_task_definition_offers_tmp_to_its_read_only_containers(each: EnvironmentPlan) -> None:
    """The templates make the root filesystem read-only and mount `tmp` at /tmp
    (tests/modules/test_task_definition_templates.py); every task definition must offer the volume."""
    definitions = each.plan.of_type("aws_ecs_task_definition")
    families = {td["family"] for td in definitions.values()}
    name = f"exii-{each.env.name}"
    assert {f"{name}-concept", f"{name}-django", f"{name}-migrate", f"{name}-job-clearsessions"} <= families
    for address, td in definitions.items():
        assert [(v["name"], v["host_path"] or None) for v in td["volume"]] == [("tmp", None)], address


def test_the_default_network_acl_denies_everything(each: EnvironmentPlan) -> None:
    [acl] = values(each.plan, "aws_default_network_acl")
    assert (acl["ingress"], acl["egress"], acl["subnet_ids"]) == ([], [], None)


def test_the_master_user_is_not_the_engines_default(each: EnvironmentPlan) -> None:
    assert each.plan.one("aws_db_instance")["username"] == "exii_admin"


def test_database_events_go_to_the_alarm_topic_which_admits_only_this_database(each: EnvironmentPlan) -> None:
    db = each.plan.one("aws_db_instance")
    subscription = each.plan.one("aws_db_event_subscription")
    assert (subscription["source_type"], subscription["source_ids"]) == ("db-instance", [db["identifier"]])
    assert subscription["event_categories"] is None and subscription["enabled"] is True  # every category
    assert each.plan.change("module.database.aws_db_event_subscription.this")["after_unknown"]["sns_topic"] is True
    # The topic's policy (read at apply: it names the topic's ARN), statement by statement.
    document = each.plan.change("data.aws_iam_policy_document.alarm_topic")["after"]
    account, region = each.env.account_id, each.env.region
    granted = {
        st["sid"]: (
            [p["identifiers"] for p in st["principals"]],
            st["actions"],
            {(c["test"], c["variable"]): c["values"] for c in st["condition"]},
        )
        for st in document["statement"]
    }
    assert granted == {
        "CloudWatchAlarms": (
            [["cloudwatch.amazonaws.com"]],
            ["sns:Publish"],
            {
                ("ArnLike", "aws:SourceArn"): [f"arn:aws:cloudwatch:{region}:{account}:alarm:*"],
                ("StringEquals", "aws:SourceAccount"): [account],
            },
        ),
        "DatabaseEvents": (
            [["events.rds.amazonaws.com"]],
            ["sns:Publish"],
            {
                ("ArnLike", "aws:SourceArn"): [f"arn:aws:rds:{region}:{account}:db:{db['identifier']}"],
                ("StringEquals", "aws:SourceAccount"): [account],
            },
        ),
    }
