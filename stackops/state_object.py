"""An environment's Terraform state, read straight from its S3 object (a read, never a write).

`terraform state pull` or `terraform output` start Terraform and its backend for what is one S3
GetObject (0.8 s against about 0.1 s on the embedded AWS); the commands that only read outputs or
the task definitions' ARNs before a plan read the object themselves. Through
`state_bucket_client`, so the request carries ExpectedBucketOwner: another account's bucket
answers 403 and nothing is read from it. The object's key is the S3 backend's: `key` for the
default workspace, `<workspace_key_prefix>/<workspace>/<key>` for the others (prefix `env:`).

Anything this reader cannot read as plainly as Terraform would (a customer-provided encryption
key, `sse_customer_key`, or any error other than "no such key") returns None and the caller asks
Terraform (`terraform state pull`, stackops.stack.current_state), which knows every backend option.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions

from stackops.bootstrap import state_bucket_client
from stackops.environments import Environment

NO_STATE = ("NoSuchKey", "404")


def state_key(env: Environment) -> str:
    key = str(env.backend["key"])
    if env.workspace == "default":
        return key
    prefix = str(env.backend.get("workspace_key_prefix", "env:"))
    return f"{prefix}/{env.workspace}/{key}"


def read_state(env: Environment) -> dict[str, Any] | None:
    """The state as `terraform state pull` prints it; {} when there is none yet; None: ask Terraform."""
    if env.backend.get("sse_customer_key"):
        return None
    try:
        body = state_bucket_client(env).get_object(Bucket=env.state_bucket, Key=state_key(env))["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in NO_STATE:
            return {}
        return None
    except botocore.exceptions.BotoCoreError:
        return None
    try:
        state = json.loads(body or b"{}")
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def outputs_of(state: dict[str, Any]) -> dict[str, Any]:
    """The outputs' values, as `terraform output -json` gives them (name -> value)."""
    return {name: item.get("value") for name, item in (state.get("outputs") or {}).items()}
