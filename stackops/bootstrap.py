"""`inv bootstrap`: the state bucket and lock table in the master account, through tf-init/.

tf-init's own state is kept under .state/bootstrap/<master account>/ and is reconstructible:
when it is missing (a new laptop, a CI runner) and the bucket or table already exist, they are
imported instead of failing. An adopted bucket's settings are checked and every difference from
what tf-init declares is reported before the plan asks to change it.

The state bucket must be the master account's own. Bucket names are global: anyone can create
a bucket of that name first ("namesquatting"), and Terraform's S3 backend would then read and
write every environment's state there, since it never checks a bucket's owner. So every S3 call
this tool makes on the state bucket carries ExpectedBucketOwner = the declared master account
(`state_bucket_client`), to which S3 answers 403 Access Denied when another account owns the
bucket, and `state_bucket_exists` turns that answer into a refusal (exit 2) before Terraform runs
(bootstrap, and every plan/apply/drift/output/tf through stackops.stack.require_state_bucket).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.exceptions

from stackops import environments, ui
from stackops.confirm import confirm
from stackops.environments import Environment
from stackops.errors import OpsError, Refused
from stackops.guard import check_accounts
from stackops.operator_policies import placeholders
from stackops.paths import state_root
from stackops.report import print_plan_summary
from stackops.terraform import Terraform
from stackops.ui import Table


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
    ci = ci_environments(env)
    if ci:
        variables["ci_environments"] = json.dumps(ci)  # JSON is HCL's object syntax too
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
        label="state backend",
    )


def ci_environments(env: Environment) -> dict[str, dict[str, str]]:
    """The environments sharing `env`'s backend whose tfvars name a CI repository: tf-init gives each
    CI state roles, holding operator-policies/{plan,apply}-state.json filled in with these values."""
    backend = (env.state_bucket, env.master_account_id, env.region)
    found = {}
    for name in environments.names(env.root):
        other = environments.load(name, env.root)
        if (other.state_bucket, other.master_account_id, other.region) == backend and other.ci_repository:
            found[name] = {**placeholders(other), "project": other.project}
    return found


def shared_backend_environment() -> str:
    """The environment to bootstrap when none is named: the real environments must share one backend."""
    real = [environments.load(name) for name in environments.names()]
    real = [env for env in real if not env.emulated]
    backends = {(env.state_bucket, env.master_profile, env.region) for env in real}
    if len(backends) != 1:
        listing = ", ".join(env.name for env in real) or "none"
        raise OpsError(f"the real environments ({listing}) do not share one state backend: pass --env")
    return real[0].name


OWNER_PARAMETER = "ExpectedBucketOwner"
NOT_FOUND = ("404", "NoSuchBucket", "NotFound")
FORBIDDEN = ("403", "AccessDenied", "Forbidden")


def state_bucket_client(env: Environment) -> Any:
    """The master account's S3 client; each of its calls on the state bucket names the expected owner.

    ExpectedBucketOwner = the declared master account goes into every operation that takes it (all
    but CreateBucket and ListBuckets, where S3 ignores it), so S3 refuses with 403 Access Denied
    instead of serving a bucket of another account, even one whose policy lets the master account
    in. (moto itself ignores the parameter: the embedded AWS learns it in stackops/local/aws/s3_ownership.py.)
    """
    s3 = env.session(master=True).client("s3")
    bucket, owner = env.state_bucket, env.master_account_id

    def expect_owner(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("Bucket") == bucket and OWNER_PARAMETER in model.input_shape.members:
            params.setdefault(OWNER_PARAMETER, owner)

    s3.meta.events.register("provide-client-params.s3", expect_owner)
    return s3


def _listed_by_master(s3: Any, bucket: str) -> bool | None:
    """Whether the master account's ListBuckets (its own buckets only) names `bucket`; None if not allowed."""
    try:
        listed = s3.list_buckets(Prefix=bucket).get("Buckets", [])
    except botocore.exceptions.ClientError:
        return None
    return any(item.get("Name") == bucket for item in listed)


def state_bucket_exists(env: Environment, s3: Any | None = None) -> bool:
    """True when the state bucket exists and the master account owns it, False when it does not exist.

    HeadBucket with the expected owner answers 200 (ours), 404 (no such bucket) or 403: another
    account owns it, or the master profile may not read it (S3 does not say which; HEAD answers have
    no body). The master account's ListBuckets tells them apart. Another account's bucket is refused
    (exit 2) naming the fix; our own unreadable bucket is an OpsError naming the permission.
    """
    s3 = s3 if s3 is not None else state_bucket_client(env)
    bucket, owner = env.state_bucket, env.master_account_id
    try:
        s3.head_bucket(Bucket=bucket)  # the client adds ExpectedBucketOwner
        return True
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in NOT_FOUND:
            return False
        if code not in FORBIDDEN:
            raise
    listed = _listed_by_master(s3, bucket)
    if listed:
        raise OpsError(
            f"the state bucket {bucket} is the master account {owner}'s, but {env.credentials_label(master=True)} "
            f"may not read it (HeadBucket: 403 Access Denied): allow it s3:ListBucket on arn:aws:s3:::{bucket} "
            "and s3:GetObject/PutObject/DeleteObject on the state objects"
        )
    unsure = ""
    if listed is None:
        who = env.credentials_label(master=True)
        unsure = f" (or {who} may neither read it nor list the account's buckets to tell)"
    raise Refused(
        f"refused: the state bucket {bucket} is not owned by the master account {owner} declared in "
        f"environments/{env.name}/variables.tfvars: S3 answered 403 Access Denied to ExpectedBucketOwner={owner}, "
        f"so another AWS account owns that name{unsure} (bucket names are global: whoever creates one first "
        'holds it). Nothing was read or changed. Choose another name: set bucket = "NAME" in '
        f"environments/{env.name}/backend.hcl (and in every environment sharing this backend; inv bootstrap "
        f"passes it to tf-init as its bucket variable), then run inv bootstrap --env {env.name}"
    )


def table_exists(dynamodb: Any, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
        return True
    except dynamodb.exceptions.ResourceNotFoundException:
        return False


def bucket_differences(s3: Any, bucket: str) -> list[str]:
    """What an existing state bucket lacks compared with tf-init/ (reported, not silently rewritten).

    `s3` is `state_bucket_client(env)`: each of these reads names the expected owner too."""
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


def adopt_existing(env: Environment, tf: Terraform, s3: Any, bucket_found: bool) -> list[str]:
    """Import a bucket/table that exist but are not in tf-init's state; return the bucket's differences.

    `bucket_found` is `state_bucket_exists`'s answer: the bucket exists and the master account owns it.
    """
    dynamodb = env.session(master=True).client("dynamodb")
    table_found = table_exists(dynamodb, env.lock_table)
    if not (bucket_found or table_found):
        return []  # nothing to adopt (and no need to start Terraform to list its state)
    in_state = set(tf.state_resources())
    differences: list[str] = []
    if "aws_s3_bucket.state" not in in_state and bucket_found:
        ui.err.print(f"State bucket {env.state_bucket} exists: adopting it (terraform import)")
        differences = bucket_differences(s3, env.state_bucket)
        tf.run("import", "-input=false", *tf.var_args(), "aws_s3_bucket.state", env.state_bucket, capture=True)
    if "aws_dynamodb_table.locks" not in in_state and table_found:
        ui.err.print(f"Lock table {env.lock_table} exists: adopting it (terraform import)")
        tf.run("import", "-input=false", *tf.var_args(), "aws_dynamodb_table.locks", env.lock_table, capture=True)
    return differences


def former_default_bucket(env: Environment) -> str:
    """The state bucket's default name before it carried the master account id."""
    return f"{env.project}-terraform-state"


def refuse_beside_former_default(env: Environment, s3: Any) -> None:
    """Refuse (exit 2) to create the new default bucket when the master account holds the former
    default one: that is an existing deployment's state, and a new bucket would be empty, so the
    next plan would plan the whole stack as new."""
    former = former_default_bucket(env)
    if env.state_bucket_named or former == env.state_bucket:
        return
    try:
        s3.head_bucket(Bucket=former, ExpectedBucketOwner=env.master_account_id)
    except botocore.exceptions.ClientError:
        return  # not there, or not ours: nothing to keep
    raise Refused(
        f"refused: the master account {env.master_account_id} holds {former}, the former default state bucket: "
        f'keep it by setting bucket = "{former}" in {env.backend_path} (and every environment sharing the '
        f"backend), or move the state to {env.state_bucket} as the README's 'The state backend' says; "
        "nothing was created"
    )


def bootstrap(env: Environment, *, yes: bool = False, ask: Any = input) -> None:
    """Create or adopt the state bucket and lock table; idempotent (a second run changes nothing)."""
    check_accounts(env, environment=False)  # only the state account is touched
    s3 = state_bucket_client(env)
    # Before Terraform runs, and whether or not tf-init's state already holds the bucket: a bucket
    # of another account is refused (exit 2), never imported, planned against or written to.
    bucket_found = state_bucket_exists(env, s3)
    if not bucket_found:
        refuse_beside_former_default(env, s3)
    tf = tf_init(env)
    tf.init()
    differences = adopt_existing(env, tf, s3, bucket_found)
    if differences:
        table = Table(title=f"existing state bucket {env.state_bucket} differs from tf-init/")
        table.add_column("setting")
        for difference in differences:
            table.add_row(difference)
        ui.out.print(table)
    plan = tf.plan()
    print_plan_summary(env, plan, "bootstrap")
    if not plan.has_changes:
        plan.discard()
        return
    try:
        confirm(env, "bootstrap the state backend of", yes=yes, ask=ask)
    except BaseException:
        plan.discard()
        raise
    tf.apply(plan)
