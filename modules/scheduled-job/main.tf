# One scheduled job: a task definition, an EventBridge Scheduler schedule that runs its latest
# revision on the batch cluster, the roles both need, the job's security group, and a dead-letter
# queue for the runs Scheduler could not start.
data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # ARNs built from names, so a plan shows the roles' policies whole (not "known after apply").
  family_arn          = "arn:${local.partition}:ecs:${var.region}:${var.account_id}:task-definition/${var.name}"
  task_role_arn       = "arn:${local.partition}:iam::${var.account_id}:role/${var.name}-task"
  dead_letter_arn     = "arn:${local.partition}:sqs:${var.region}:${var.account_id}:${var.name}-dead-letter"
  schedule_group_arn  = "arn:${local.partition}:scheduler:${var.region}:${var.account_id}:schedule-group/default"
  schedule_arn        = "arn:${local.partition}:scheduler:${var.region}:${var.account_id}:schedule/default/${var.name}"
  ecs_task_source_arn = "arn:${local.partition}:ecs:${var.region}:${var.account_id}:*"
}

# -- the job's network -------------------------------------------------------------------------------
resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:attached at launch: the schedule's network configuration (and inv job.run) names it for each task
  name        = var.name
  description = "${var.name}: outbound only what the job needs"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = var.egress_rules

  security_group_id = aws_security_group.this.id
  description       = "Outbound ${each.key}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

# -- the role the job's code runs as ---------------------------------------------------------------------
# Only ECS tasks of this account (the confused-deputy guard the ECS task role guide documents).
module "task_trust" {
  source = "../service-trust-policy"

  service     = "ecs-tasks.amazonaws.com"
  account_id  = var.account_id
  source_arns = [local.ecs_task_source_arn]
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "${var.name}: what the job's code may do"
  assume_role_policy = module.task_trust.json
}

resource "aws_iam_role_policy" "task" {
  count = var.task_role_policy == null ? 0 : 1

  name   = "job"
  role   = aws_iam_role.task.id
  policy = var.task_role_policy
}

# -- the task definition (issue 11's ownership rules, as main.tf's migrate) -------------------------------
# Shared with the tools: for a job on the backend image, `inv refresh|deploy|rollback` register a
# copy with the backend's new image after each rollout, so the job always runs the deployed backend.
# track_latest: Terraform compares with the latest ACTIVE revision; skip_destroy: a replaced
# revision stays registered for the runs still using it.
resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = var.container_definitions

  # The container's root filesystem is read-only: /tmp is its one writable folder.
  volume {
    name = "tmp"
  }

  track_latest = true
  skip_destroy = true
  tags = {
    "stackops:registered-by" = "terraform"
    "stackops:image"         = length(var.image) <= 256 ? var.image : "-"
  }

  lifecycle {
    ignore_changes = [tags]
  }
}

# -- the runs Scheduler could not start ----------------------------------------------------------------
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dead-letter"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = var.dead_letter_retention_seconds
}

# -- the schedule and its role -----------------------------------------------------------------------
# Scheduler's confused-deputy guide names the schedule group as the source; the schedule's own
# ARN is admitted too. Either way only this account's default group reaches the role.
module "scheduler_trust" {
  source = "../service-trust-policy"

  service         = "scheduler.amazonaws.com"
  account_id      = var.account_id
  source_arns     = [local.schedule_group_arn, local.schedule_arn]
  source_arn_test = "ArnEquals"
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  description        = "${var.name}: lets EventBridge Scheduler run the job's task definition on the batch cluster"
  assume_role_policy = module.scheduler_trust.json
}

data "aws_iam_policy_document" "scheduler" {
  # The schedule names the family without a revision (RunTask then takes the latest ACTIVE one).
  # RunTask's reference: the policy names a revision or all of them (family:*): all, this family only.
  statement {
    sid       = "RunTheJob"
    actions   = ["ecs:RunTask"]
    resources = ["${local.family_arn}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  # RunTask of a task definition that names roles needs PassRole on each of them.
  statement {
    sid       = "PassTheJobsRoles"
    actions   = ["iam:PassRole"]
    resources = [var.execution_role_arn, local.task_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [local.dead_letter_arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-job"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:the target is a RunTask request holding no secret (the task reads its secrets itself); the AWS owned key encrypts it
  name                         = var.name
  description                  = var.description
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.cluster_arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      # Without a revision: each run takes the family's latest ACTIVE revision, the one the tools
      # register after a rollout (track_latest), so the schedule never runs a stale image.
      task_definition_arn = local.family_arn
      launch_type         = "FARGATE"
      task_count          = 1

      network_configuration {
        subnets          = var.subnet_ids
        security_groups  = [aws_security_group.this.id]
        assign_public_ip = false
      }
    }

    # Retries cover a run Scheduler could not start (RunTask refused, throttled); what the task
    # does once started is the job's own (its exit code, its logs).
    retry_policy {
      maximum_retry_attempts       = var.maximum_retry_attempts
      maximum_event_age_in_seconds = var.maximum_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letter.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
