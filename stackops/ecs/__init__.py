"""ECS operations: roll services to a task definition revision, deploy an image, run the migration.

Everything goes through the ECS, CloudWatch Logs and nothing else, so the same code runs on AWS and
on the emulated AWS. boto3's waiters (services_stable, tasks_stopped) are not used: they time out
or fail without saying why, and the why (the circuit breaker's reason, a task's exit code or stop
reason) is what a person needs. The waits below poll describe_* themselves and report ECS's words.

Rollback memory lives in AWS, on the service itself: before a service is moved to another revision
its current one is written to the service tag `stackops:previous-task-definition`, so `inv rollback`
works from any machine and survives a crash half-way through a deployment.

What lives where (import from the modules; this package re-exports nothing):
- `layout`: EcsLayout, ServiceRef, MigrateRef: what Terraform's `ecs` output says exists.
- `results`: Outcome, RolloutResult, MigrationResult, print_results, raise_on_failure.
- `images`: image references: parse_image (what `--image` asked for), image_repository.
- `task_definitions`: revisions of a family: the latest, describe, register a copy with
  another image, prune old ones.
- `rollouts`: moving one service to a revision and waiting until ECS says how it went; the
  rollback tag (PREVIOUS_TAG) and the poll interval (POLL_SECONDS).
- `one_off`: running a task once (the migration task, a scheduled job), tailing its logs, judging its exit.
- `logs`: where a container logs (awslogs), the one reader of CloudWatch Logs events
  (filter_log_events, paginated, de-duplicated when followed), and `inv logs` (show_logs).
- `refresh`, `rollback`, `deploy`, `migrate`: one operation each, the function of the same name.
"""
