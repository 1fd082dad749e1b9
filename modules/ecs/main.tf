data "aws_partition" "current" {}

resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:container insights is an input (container_insights), on in prod; it costs per metric in dev
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

module "repositories" {
  source = "../ecr"

  names        = var.repositories
  keep_images  = var.keep_images
  force_delete = var.force_delete_repositories
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest already; secrets never reach the logs
  #checkov:skip=CKV_AWS_338:retention is an input (log_retention_days), 30 days by default for application logs
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

# Both kinds of role trust ECS tasks of this account only: the confused-deputy guard the ECS
# guides (task IAM role, task execution IAM role) document, aws:SourceAccount and aws:SourceArn
# ArnLike arn:aws:ecs:<region>:<account>:*.
module "trust" {
  source = "../service-trust-policy"

  service     = "ecs-tasks.amazonaws.com"
  account_id  = var.account_id
  source_arns = ["arn:${data.aws_partition.current.partition}:ecs:${var.region}:${var.account_id}:*"]
}

# The execution role is what ECS itself uses to start a task: pull the image, write logs,
# and read exactly the secrets the task definitions reference.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-task-execution"
  assume_role_policy = module.trust.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    sid       = "ReadInjectedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.execution_secret_arns
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "read-injected-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# Task roles are what the application code runs as.
resource "aws_iam_role" "task" {
  for_each = var.task_role_policies

  name               = "${var.name}-${each.key}-task"
  assume_role_policy = module.trust.json
}

resource "aws_iam_role_policy" "task" {
  for_each = var.task_role_policies

  name   = "${each.key}-task"
  role   = aws_iam_role.task[each.key].id
  policy = each.value
}
