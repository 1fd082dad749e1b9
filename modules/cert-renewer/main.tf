# The certificate renewer: a Lambda function running `inv cert --renew-all`'s code
# (stackops.certs.renewer), daily, with only the permissions a renewal needs, and alarms on its
# errors and on the days the certificates have left.
data "aws_partition" "current" {}

locals {
  account   = var.account_id
  region    = var.region
  partition = data.aws_partition.current.partition
  # ARNs are built from names, so a plan shows both roles' policies whole (not "known after apply").
  function_arn       = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${var.name}"
  schedule_group_arn = "arn:${local.partition}:scheduler:${local.region}:${local.account}:schedule-group/default"
  schedule_arn       = "arn:${local.partition}:scheduler:${local.region}:${local.account}:schedule/default/${var.name}"
  # Every certificate the tool imported carries these tags; the function touches no other.
  tag_conditions = [for key, value in var.managed_tags : { key = "aws:ResourceTag/${key}", value = value }]
}

# -- the function's role ---------------------------------------------------------------------------
# Only Lambda acting for this account (aws:SourceAccount). No aws:SourceArn: Lambda's guide names
# both keys for execution roles but not which ARN it sets when it assumes the role (the
# function's, or an event source's), and a condition Lambda does not meet would stop every run
# ("The role defined for the function cannot be assumed by Lambda"). moto checks neither.
module "lambda_trust" {
  source = "../service-trust-policy"

  service    = "lambda.amazonaws.com"
  account_id = local.account
}

resource "aws_iam_role" "function" {
  name_prefix        = "${substr(var.name, 0, 37)}-"
  description        = "${var.name}: renews the certificates the tool imported into ACM"
  assume_role_policy = module.lambda_trust.json
}

data "aws_iam_policy_document" "function" {
  # DNS-01: the _acme-challenge TXT records of the environment's zone, nothing else in it. The
  # condition keys are Route53's (normalized: lower case, no trailing dot); certbot-dns-route53
  # writes with UPSERT and cleans up with DELETE (or an UPSERT of the values left).
  statement {
    sid       = "ChallengeRecords"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.zone_id}"]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = ["_acme-challenge.*"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["TXT"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsActions"
      values   = ["UPSERT", "DELETE"]
    }
  }
  statement {
    sid       = "ChallengeSync"
    actions   = ["route53:GetChange"]
    resources = ["arn:${local.partition}:route53:::change/*"]
  }
  # Choosing the zone of each name: ListHostedZones has no resource-level permission; the
  # delegation check between overlapping zones reads their NS records (stackops/certs/zones.py).
  statement {
    sid       = "FindZones"
    actions   = ["route53:ListHostedZones"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadDelegation"
    actions   = ["route53:ListResourceRecordSets"]
    resources = ["arn:${local.partition}:route53:::hostedzone/*"]
  }

  # ACM: listing has no resource-level permission, and the tags are what tells the tool's
  # certificates from the others, so they are readable on any certificate of the account.
  statement {
    sid       = "ListCertificates"
    actions   = ["acm:ListCertificates"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadCertificateTags"
    actions   = ["acm:ListTagsForCertificate"]
    resources = ["arn:${local.partition}:acm:${local.region}:${local.account}:certificate/*"]
  }
  # Re-importing (the same ARN: the listeners keep it) and reading only the tagged certificates.
  # A first certificate is imported by `inv cert` / `inv up`, which hold more (no ImportCertificate
  # without a tagged ARN here).
  statement {
    sid = "RenewTaggedCertificates"
    actions = [
      "acm:DescribeCertificate",
      "acm:GetCertificate",
      "acm:ImportCertificate",
    ]
    resources = ["arn:${local.partition}:acm:${local.region}:${local.account}:certificate/*"]
    dynamic "condition" {
      for_each = local.tag_conditions
      content {
        test     = "StringEquals"
        variable = condition.value.key
        values   = [condition.value.value]
      }
    }
  }

  # Re-tagging after a re-import (stackops/certs/acm.py import_certificate): only the tool's own
  # tag keys, and the environment tag keeps its value, so no certificate moves to another environment.
  statement {
    sid       = "RetagTaggedCertificates"
    actions   = ["acm:AddTagsToCertificate"]
    resources = ["arn:${local.partition}:acm:${local.region}:${local.account}:certificate/*"]
    dynamic "condition" {
      for_each = local.tag_conditions
      content {
        test     = "StringEquals"
        variable = condition.value.key
        values   = [condition.value.value]
      }
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = concat(keys(var.managed_tags), ["Name"])
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.environment_tag}"
      values   = [var.managed_tags[var.environment_tag]]
    }
  }

  # The ARN Terraform reads. A re-import keeps the ARN, so this is written only when the
  # parameter was lost; GetParameter tells (stackops/certs/acm.py publish_arn).
  statement {
    sid       = "CertificateParameters"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${var.certificate_parameter_path}/*"]
  }

  statement {
    sid     = "AcmeAccount"
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    # Secrets Manager appends six random characters to a secret's ARN: AWS's documented pattern.
    resources = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.account_key_secret_name}-??????"]
  }

  # PutMetricData has no resource-level permission; the namespace condition holds it to ours.
  statement {
    sid       = "DaysRemaining"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.name}:*"]
  }
}

resource "aws_iam_role_policy" "function" {
  name   = "renew-certificates"
  role   = aws_iam_role.function.id
  policy = data.aws_iam_policy_document.function.json
}

# -- the ACME account ------------------------------------------------------------------------------
# Created empty: the function writes certbot's account (its key) on its first run and reads it on
# every later one, so renewals reuse one ACME account. No value ever passes through Terraform.
resource "aws_secretsmanager_secret" "account_key" {
  #checkov:skip=CKV2_AWS_57:an ACME account key is not rotated on a schedule; a new account is made by deleting the value
  #checkov:skip=CKV_AWS_149:the AWS managed key (aws/secretsmanager) suffices: only this account's function reads it
  name                    = var.account_key_secret_name
  description             = "${var.name}: the ACME account certbot registered (written by the function)"
  recovery_window_in_days = var.secret_recovery_days
}

# -- the function ----------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:the AWS-owned key encrypts the log group; its lines hold no secret (the tool never logs one)
  #checkov:skip=CKV_AWS_338:retention is an input (log_retention_days), shared with the services' logs
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:the function calls only AWS APIs and the ACME server over HTTPS; a VPC would need a NAT for both
  #checkov:skip=CKV_AWS_116:a failed run raises the errors alarm and the next day's run retries; a dead-letter queue would hold nothing to replay
  #checkov:skip=CKV_AWS_173:its environment variables hold no secret (the ACME key is in Secrets Manager)
  #checkov:skip=CKV_AWS_272:code signing needs a signing profile; the package is built and hashed by the tool (source_code_hash)
  #checkov:skip=CKV_AWS_115:one daily run; a reserved concurrency would take from the account's unreserved pool (AWS refuses below 10)
  #checkov:skip=CKV_AWS_50:X-Ray tracing adds nothing to one daily batch run; its log tells each step
  function_name    = var.name
  description      = "Renews the ACM certificates the tool imported (inv cert --renew-all), daily"
  role             = aws_iam_role.function.arn
  runtime          = var.runtime
  handler          = var.handler
  architectures    = ["x86_64"]
  filename         = var.package_path
  source_code_hash = var.package_hash
  timeout          = var.timeout
  memory_size      = var.memory_size

  environment {
    variables = merge(var.environment, {
      # Its name (known at plan, so a plan shows every variable); Secrets Manager takes either.
      STACKOPS_ACME_ACCOUNT_SECRET = var.account_key_secret_name
      # certbot's config, work and logs folders: /tmp is a function's only writable folder.
      STACK_STATE_DIR = "/tmp/stackops"
    })
  }

  # Its logs go to Lambda's default group, /aws/lambda/<name>: the one created above (with its
  # retention), which must exist with the role's policy before the first run writes to it.
  # (No logging_config block: the emulator does not keep it, and the default is this group.)
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.function]
}

# Lambda retries a failed asynchronous run twice by default (after 1 and 2 minutes): three
# failed ACME orders a day count against the CA's failed-validation limit and say nothing new.
# A failed run raises the errors alarm and the next day's run tries again.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name          = aws_lambda_function.this.function_name
  maximum_retry_attempts = 0
}

# -- the schedule ------------------------------------------------------------------------------------
# Only this account's schedules may use the role: Scheduler's confused-deputy guide names the
# schedule group as the source (the default group here); the schedule's own ARN is admitted too.
module "scheduler_trust" {
  source = "../service-trust-policy"

  service         = "scheduler.amazonaws.com"
  account_id      = local.account
  source_arns     = [local.schedule_group_arn, local.schedule_arn]
  source_arn_test = "ArnEquals"
}

resource "aws_iam_role" "scheduler" {
  name_prefix        = "${substr(var.name, 0, 33)}-sch-"
  description        = "${var.name}: lets EventBridge Scheduler invoke the renewal function"
  assume_role_policy = module.scheduler_trust.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["lambda:InvokeFunction"]
    resources = [local.function_arn, "${local.function_arn}:*"]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-renewer"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:the schedule's input is {"source": "schedule"}, nothing to encrypt with a key of our own
  name                = var.name
  description         = "Runs ${var.name} daily"
  schedule_expression = var.schedule_expression

  # Let Scheduler spread the run over an hour: nothing depends on the minute.
  flexible_time_window {
    mode                      = "FLEXIBLE"
    maximum_window_in_minutes = 60
  }

  # Scheduler's retries cover a run it could not hand to Lambda; a run that fails is Lambda's (above).
  target {
    arn      = aws_lambda_function.this.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "schedule" })

    retry_policy {
      maximum_retry_attempts = 2
    }
  }
}

# -- the alarms (to the environment's topic) ----------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "A run of ${var.name} failed: read its log (inv cert.renewer shows the last run), then run inv cert --renew-all"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
}

# `inv cert`, `inv up` and each run of the function publish the days the environment's certificate
# (the one its listeners use) has left. Two days without a datapoint mean nothing checked it:
# that alarms too. Two of two, so a new alarm (yesterday empty, today published by the first
# `inv up`) starts OK.
resource "aws_cloudwatch_metric_alarm" "days_remaining" {
  alarm_name          = "${var.name}-days-remaining"
  alarm_description   = "The certificate of ${var.environment_name} has fewer than ${var.days_remaining_threshold} days left, or nothing checked it for two days: run inv cert.renewer --env ${var.environment_name}"
  namespace           = var.metric_namespace
  metric_name         = "DaysRemaining"
  dimensions          = { Environment = var.environment_name }
  statistic           = "Minimum"
  period              = 86400
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  comparison_operator = "LessThanThreshold"
  threshold           = var.days_remaining_threshold
  treat_missing_data  = "breaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
}
