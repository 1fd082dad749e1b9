"""How boto3 and Terraform retry AWS calls: the standard retry mode, set in one place.

Both read the process environment (`AWS_RETRY_MODE`, `AWS_MAX_ATTEMPTS`), so the entry points put
these there once at start-up (`configure`, called by tasks.py's `operation` and
bin/create-secrets.py) and the Terraform runner passes the same to its subprocesses
(`environment`); certbot's Route53 plugin and the AWS CLI inherit them too. A value the user
exported wins; a profile's own `retry_mode` / `max_attempts` in ~/.aws/config does not (the
environment outranks the config file): export the variables to change them.

What each reads (checked, not assumed):

- botocore 1.44: `AWS_RETRY_MODE` and `AWS_MAX_ATTEMPTS` (or `retry_mode` / `max_attempts` in
  the profile); its default mode is already `standard` with 3 attempts (older botocore defaulted
  to `legacy`, 5 attempts): set explicitly, so the count the tests outlast is this module's.
- the Terraform AWS provider 5.100 (AWS SDK for Go v2 through aws-sdk-go-base): `retry_mode` or
  `AWS_RETRY_MODE` (default `standard`); its attempts are `max_retries`, default 25, which it
  passes as a load option that outranks `AWS_MAX_ATTEMPTS`: exported 4, its requests still say
  `amz-sdk-request: attempt=N; max=25` (seen in the emulator's trace). So the provider keeps its
  25 attempts, with exponential backoff up to 300 s, which a large apply on a throttled account
  needs; the mode is the same for both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

RETRY_MODE = "standard"
MAX_ATTEMPTS = 3  # boto3's attempts per call, the first included (the standard mode's default)


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """AWS_RETRY_MODE and AWS_MAX_ATTEMPTS as they should be in `environ` (values already there win)."""
    return {
        "AWS_RETRY_MODE": environ.get("AWS_RETRY_MODE") or RETRY_MODE,
        "AWS_MAX_ATTEMPTS": environ.get("AWS_MAX_ATTEMPTS") or str(MAX_ATTEMPTS),
    }


def configure(environ: MutableMapping[str, str] = os.environ) -> None:
    """Put the retry settings into this process's environment, before any boto3 client exists."""
    environ.update(environment(environ))
