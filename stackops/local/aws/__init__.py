"""The emulated AWS behind the `local` environment: moto's server plus a narrow ECS extension.

Run it with `python -m stackops.local.aws --port PORT [--host 127.0.0.1]` (what
`stackops.local.emulator.start()` does). It is moto 5.2.5's own WSGI application with
MOTO_IAM_LOAD_MANAGED_POLICIES=true, narrow fixes installed into it, and nothing else:

- `ecs.py` (with `ecs_state.py`, `ecs_deployments.py`, `ecs_tasks.py`): moto has no container
  runtime, so its ECS never completes a rollout and crashes on Fargate one-off tasks. The
  extension fixes the two crashes and simulates ECS's scheduler for a healthy service:
  deployments complete, one-off tasks start, log and stop with exit code 0, and injected faults
  make them fail as ECS does; `ecs_service_logs.py` writes the services' tasks' log lines
  (start-up, health checks, stop) into their awslogs streams, for `inv logs`.
- `ec2.py`, `snapshots.py`, `autoscaling.py`, `policies.py`, `iam_auth.py`: one narrow fix each
  (descriptions of rules that reference a security group, DescribeSnapshots' OwnerIds, Application
  Auto Scaling tags, bucket policy conditions, identity policy statements scoped to resources moto
  does not name); each module says why.
- `s3_ownership.py`: buckets belong to their account, as in S3: a request naming another
  expected owner (ExpectedBucketOwner) is refused with 403 AccessDenied, and so is another
  account's request that the bucket's policy does not grant (moto serves both).
- `server.py`: moto's WSGI application behind a few routes under `/_stack/` on the same port: a
  health probe that identifies this server, the ECS fault-injection API tests use to make the
  next deployment roll back or hang, or the next task exit non-zero or never start,
  `/_stack/faults`, which makes any service's operation answer with an AWS error (an error code,
  for a count of requests or a rate of them: `faults.py`, in the protocol's shape from
  `error_responses.py`) before moto sees the request, and a switch for moto's IAM authorisation
  (`iam_auth.py`: on for the tests that run operator commands as least-privilege roles, off
  otherwise); `client.py` is a small client for them. Its request handler sends each response in
  one piece (why: in `request_handler`), and `request_trace.py` writes one line per request to the log.

moto keeps everything in memory: when this process stops, every emulated resource is gone.

Only the emulator process (and tests) import this package; the code paths used against real AWS
never do, so nothing here can change how the tooling behaves in dev or prod.
"""

from __future__ import annotations

SERVICE_MARK = "stackops-emulated-aws"  # the health probe's `service`, to tell this server from others
HEALTH_PATH = "/_stack/health"
FAULTS_PATH = "/_stack/ecs/faults"
REQUEST_FAULTS_PATH = "/_stack/faults"
IAM_AUTH_PATH = "/_stack/iam-auth"
