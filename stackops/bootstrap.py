"""`inv bootstrap`: the state bucket and lock table in the master account, through tf-init/.

tf-init's own state is kept under .state/bootstrap/<master account>/ and is reconstructible:
when it is missing (a new laptop, a CI runner) and the bucket or table already exist, they are
imported instead of failing. An adopted bucket's settings are checked and every difference from
what tf-init declares is reported before the plan asks to change it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.exceptions
from rich.table import Table

from stackops import environments, ui
from stackops.confirm import confirm
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.guard import check_accounts
from stackops.paths import state_root
from stackops.report import print_plan_summary
from stackops.terraform import Terraform


def tf_init_folder(env: Environment) -> Path:
    """Where tf-init's own state and Terraform data live for the environment's state account."""
    return state_root() / "bootstrap" / env.master_account_id


def tf_init(env: Environment) -> Terraform:
    folder = tf_init_folder(env)
    variables = {
        "region": env.region,
        "account_id": env.master_account_id,
        "bucket": env.state_bucket,
        "lock_table": env.lock_table,
        "s3_use_path_style": str(bool(env.backend.get("use_path_style", False))).lower(),
    }
    # Without them, the provider uses the default credential chain (variables default to null).
    if env.master_profile:
        variables["profile"] = env.master_profile
    if env.master_role_arn:
        variables["assume_role_arn"] = env.master_role_arn
    return Terraform(
        env,
        root=env.root / "tf-init",
        data_dir=folder / "terraform",
        workspace="default",
        backend_config=[f"-backend-config=path={folder / 'terraform.tfstate'}"],
        var_args=[f"-var={key}={value}" for key, value in variables.items()],
    )


def shared_backend_environment() -> str:
    """The environment to bootstrap when none is named: the real environments must share one backend."""
    real = [environments.load(name) for name in environments.names()]
    real = [env for env in real if not env.emulated]
    backends = {(env.state_bucket, env.master_profile, env.region) for env in real}
    if len(backends) != 1:
        listing = ", ".join(env.name for env in real) or "none"
        raise OpsError(f"the real environments ({listing}) do not share one state backend: pass --env")
    return real[0].name


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def table_exists(dynamodb: Any, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
        return True
    except dynamodb.exceptions.ResourceNotFoundException:
        return False


def bucket_differences(s3: Any, bucket: str) -> list[str]:
    """What an existing state bucket lacks compared with tf-init/ (reported, not silently rewritten)."""
    differences = []
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        differences.append("versioning is not enabled")
    try:
        s3.get_bucket_encryption(Bucket=bucket)
    except botocore.exceptions.ClientError:
        differences.append("no default encryption")
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        if not all(block.values()):
            off = ", ".join(sorted(k for k, v in block.items() if not v))
            differences.append(f"public access block incomplete ({off} off)")
    except botocore.exceptions.ClientError:
        differences.append("no public access block")
    if not _denies_insecure_transport(s3, bucket):
        differences.append("bucket policy does not deny non-TLS access")
    return differences


def _denies_insecure_transport(s3: Any, bucket: str) -> bool:
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except botocore.exceptions.ClientError:
        return False
    for statement in policy.get("Statement", []):
        condition = statement.get("Condition", {}).get("Bool", {})
        if statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false":
            return True
    return False


def adopt_existing(env: Environment, tf: Terraform) -> list[str]:
    """Import a bucket/table that exist but are not in tf-init's state; return the bucket's differences."""
    session = env.session(master=True)
    s3, dynamodb = session.client("s3"), session.client("dynamodb")
    in_state = set(tf.state_resources())
    differences: list[str] = []
    if "aws_s3_bucket.state" not in in_state and bucket_exists(s3, env.state_bucket):
        ui.err.print(f"State bucket {env.state_bucket} exists: adopting it (terraform import)")
        differences = bucket_differences(s3, env.state_bucket)
        tf.run("import", "-input=false", *tf.var_args(), "aws_s3_bucket.state", env.state_bucket, capture=True)
    if "aws_dynamodb_table.locks" not in in_state and table_exists(dynamodb, env.lock_table):
        ui.err.print(f"Lock table {env.lock_table} exists: adopting it (terraform import)")
        tf.run("import", "-input=false", *tf.var_args(), "aws_dynamodb_table.locks", env.lock_table, capture=True)
    return differences


def bootstrap(env: Environment, *, yes: bool = False, ask: Any = input) -> None:
    """Create or adopt the state bucket and lock table; idempotent (a second run changes nothing)."""
    check_accounts(env, environment=False)  # only the state account is touched
    tf = tf_init(env)
    tf.init()
    differences = adopt_existing(env, tf)
    if differences:
        table = Table(title=f"existing state bucket {env.state_bucket} differs from tf-init/")
        table.add_column("setting")
        for difference in differences:
            table.add_row(difference)
        ui.out.print(table)
    plan = tf.plan()
    print_plan_summary(env, plan, "bootstrap")
    if not plan.has_changes:
        plan.path.unlink(missing_ok=True)
        return
    confirm(env, "bootstrap the state backend of", yes=yes, ask=ask)
    tf.apply(plan)
