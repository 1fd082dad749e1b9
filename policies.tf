# IAM policy documents of the task roles: each service reaches only this environment's own
# buckets, queues and parameters (the original granted s3:*, sqs:*, ssm:* on every resource).
locals {
  arn_prefix = {
    ssm = "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${var.account_id}"
    sqs = "arn:${data.aws_partition.current.partition}:sqs:${var.region}:${var.account_id}"
    ecs = "arn:${data.aws_partition.current.partition}:ecs:${var.region}:${var.account_id}"
  }
  parameters_arn = "${local.arn_prefix.ssm}:parameter/${var.project}/${var.stage}/*"
}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "concept_task" {
  statement {
    sid       = "ReadOwnParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = [local.parameters_arn]
  }
}

data "aws_iam_policy_document" "django_task" {
  statement {
    sid       = "ReadOwnParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = [local.parameters_arn]
  }

  statement {
    sid       = "ListOwnBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [for bucket in local.buckets : bucket.arn]
  }

  statement {
    sid       = "ReadWriteOwnObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for bucket in local.buckets : "${bucket.arn}/*"]
  }

  statement {
    sid = "UseOwnQueues"
    actions = [
      "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:GetQueueAttributes",
    ]
    resources = [for queue in aws_sqs_queue.this : queue.arn]
  }

  # The backend starts its jobs on the batch cluster.
  statement {
    sid       = "RunBatchJobs"
    actions   = ["ecs:RunTask"]
    resources = ["${local.arn_prefix.ecs}:task-definition/${local.name}-batch-*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [module.batch.cluster_arn]
    }
  }

  statement {
    sid       = "WatchBatchJobs"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["${local.arn_prefix.ecs}:task/${module.batch.cluster_name}/*"]
  }
}
