"""The least-privilege IAM policies of the operator commands (`operator-policies/*.json`), per environment.

Each file is a plain IAM policy document with placeholders for what differs between environments:
`${env}`, `${region}`, `${account_id}` (the environment's account), `${master_account_id}`,
`${state_bucket}`, `${state_object}` (the environment's state key in that bucket), `${state_key}`
(the default workspace's key, which `terraform init` reads) and `${lock_table}`. `<family>.json`
goes to a role in the environment's account; `<family>-state.json`, where the family reads or
locks the Terraform state, to a role in the master account.

    python -m stackops.operator_policies plan --env dev     # the rendered document, for
                                                            # aws iam put-role-policy
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path
from typing import Any

from stackops.environments import Environment
from stackops.paths import ROOT

FOLDER = ROOT / "operator-policies"
# family -> the commands it covers (README, "Operator policies")
FAMILIES = {
    "plan": "inv plan, inv drift, inv output, inv status, inv job.list (read-only)",
    "deploy": "inv refresh, inv deploy, inv rollback, inv migrate (and its snapshot first), inv job.run",
    "cert": "inv cert (renewal and re-import)",
    "secrets": "inv secrets (create, rotate; --refresh also needs deploy)",
    "database": "inv db.snapshots, inv db.restore (a new instance beside the database)",
    "apply": "inv apply: Terraform's creates, updates and deletes (with plan, deploy and cert: the CI apply role)",
}


def files(folder: Path = FOLDER) -> dict[str, Path]:
    """Every policy file by its name without .json (`plan`, `plan-state`, ...)."""
    return {path.stem: path for path in sorted(folder.glob("*.json"))}


def placeholders(env: Environment) -> dict[str, str]:
    prefix = str(env.backend.get("workspace_key_prefix", "env:"))
    return {
        "env": env.name,
        "region": env.region,
        "account_id": env.account_id,
        "master_account_id": env.master_account_id,
        "state_bucket": env.state_bucket,
        "state_object": f"{prefix}/{env.workspace}/{env.backend['key']}",
        "state_key": str(env.backend["key"]),  # the default workspace's object, which `terraform init` reads
        "lock_table": env.lock_table,
    }


def render(name: str, env: Environment, folder: Path = FOLDER) -> dict[str, Any]:
    """The policy document `name` (e.g. `plan-state`) for `env`; KeyError for an unknown placeholder."""
    path = files(folder).get(name)
    if path is None:
        raise ValueError(f"no operator policy {name!r}: choose from {', '.join(files(folder))}")
    return dict(json.loads(string.Template(path.read_text()).substitute(placeholders(env))))


def main(argv: list[str] | None = None) -> None:
    from stackops import environments

    parser = argparse.ArgumentParser(prog="python -m stackops.operator_policies", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("name", choices=sorted(files()), help="the policy file, without .json")
    parser.add_argument("--env", required=True, help="the environment whose names fill the placeholders")
    args = parser.parse_args(argv)
    print(json.dumps(render(args.name, environments.load(args.env)), indent=2))


if __name__ == "__main__":
    main()
