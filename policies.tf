# IAM policy documents of the task roles: each service reaches only this environment's own
# buckets, queues and parameters (the original granted s3:*, sqs:*, ssm:* on every resource).
#
# Every ARN here is built from variables and locals, never from a resource's attributes: a data
# source that depends on a resource with pending changes is read only at apply, so the task roles'
# policies would show as "(known after apply)". Built so, `inv plan` shows each role's whole policy
# and the plan tests and the policy linter read it (tests/e2e/test_task_role_policies.py checks
# these names against the resources planned).
locals {
  arn_prefix = {
    ssm = "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${var.account_id}"
    sqs = "arn:${data.aws_partition.current.partition}:sqs:${var.region}:${var.account_id}"
    ecs = "arn:${data.aws_partition.current.partition}:ecs:${var.region}:${var.account_id}"
    iam = "arn:${data.aws_partition.current.partition}:iam::${var.account_id}"
    s3  = "arn:${data.aws_partition.current.partition}:s3:::"
  }
  # GetParametersByPath is authorised against the path in the request (PARAMETER_PREFIX, no
  # trailing slash), the other reads against each parameter: both ARNs are needed.
  parameters_arns = [
    "${local.arn_prefix.ssm}:parameter${local.parameter_prefix}",
    "${local.arn_prefix.ssm}:parameter${local.parameter_prefix}/*",
  ]
  # The buckets' names as main.tf gives them. The log bucket holds the access logs (the audit
  # trail): applications may read it, never write or delete in it.
  log_bucket_arn = "${local.arn_prefix.s3}${local.log_bucket}"
  data_bucket_arns = [
    for purpose in setsubtract(var.buckets, ["log"]) : "${local.arn_prefix.s3}${local.name}-${purpose}-${var.account_id}"
  ]

  batch_cluster = "${local.name}-batch" # module.batch's name (main.tf)

  # The roles the backend's batch task definitions (families ${local.name}-batch-*, registered by
  # its pipeline) name: the shared execution role (image pull, logs) and the backend's task role.
  # RunTask of a task definition with roles needs iam:PassRole on each of them. Names as
  # modules/ecs gives them (its ARNs cannot be used: the task roles are created from these documents).
  execution_role_arn = "${local.arn_prefix.iam}:role/${local.name}-task-execution" # modules/ecs's name for it
  batch_task_role_arns = [
    local.execution_role_arn,
    "${local.arn_prefix.iam}:role/${local.name}-django-task",
  ]
}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "concept_task" {
  statement {
    sid       = "ReadOwnParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = local.parameters_arns
  }
}

data "aws_iam_policy_document" "django_task" {
  statement {
    sid       = "ReadOwnParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = local.parameters_arns
  }

  statement {
    sid       = "ListOwnBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = concat([local.log_bucket_arn], local.data_bucket_arns)
  }

  statement {
    sid       = "ReadWriteOwnObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for arn in local.data_bucket_arns : "${arn}/*"]
  }

  statement {
    sid       = "ReadAccessLogs"
    actions   = ["s3:GetObject"]
    resources = ["${local.log_bucket_arn}/*"]
  }

  statement {
    sid = "UseOwnQueues"
    actions = [
      "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
    ]
    resources = [for queue in values(var.queues) : "${local.arn_prefix.sqs}:${local.name}-${queue}"]
  }

  # The backend starts its jobs on the batch cluster.
  statement {
    sid       = "RunBatchJobs"
    actions   = ["ecs:RunTask"]
    resources = ["${local.arn_prefix.ecs}:task-definition/${local.name}-batch-*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = ["${local.arn_prefix.ecs}:cluster/${local.batch_cluster}"]
    }
  }

  # Without it AWS refuses RunTask of a task definition that names roles (moto does not check).
  statement {
    sid       = "PassBatchJobRoles"
    actions   = ["iam:PassRole"]
    resources = local.batch_task_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "WatchBatchJobs"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["${local.arn_prefix.ecs}:task/${local.batch_cluster}/*"]
  }
}
