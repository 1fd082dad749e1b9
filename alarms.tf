# The environment's alarms and the one SNS topic they all notify (the renewal function's too).
# E-mail subscribers come from alarm_emails in the tfvars; each confirms AWS's subscription mail.
resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic under the AWS managed key (aws/sns); alarm texts hold no secret
  name = "${local.name}-alarms"
}

# Who may publish to the topic: CloudWatch, for this account's alarms, and RDS's event notifications
# (modules/rds), for this environment's database only. A topic policy replaces SNS's default one
# (every service acting for the account); the account's own principals still act through their
# IAM policies. The conditions are what AWS documents against the cross-service confused deputy:
# aws:SourceAccount and aws:SourceArn (RDS User Guide, "Granting permissions to publish
# notifications to an Amazon SNS topic"; CloudWatch User Guide, alarm actions' topic policy). The
# topic is not KMS-encrypted (above), so no key policy needs them too. The embedded AWS stores this
# policy but does not enforce it.
data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }

  statement {
    sid       = "DatabaseEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["events.rds.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      # The instance's ARN as modules/rds names it (identifier local.name).
      values = ["arn:${data.aws_partition.current.partition}:rds:${var.region}:${var.account_id}:db:${local.name}"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

module "alarms" {
  source = "./modules/alarms"

  environment_name = var.stage
  topic_arn        = aws_sns_topic.alarms.arn
  # Names as strings (not the services' outputs): the services name their deployment alarms from
  # this module, so the alarms must not depend on them.
  services = {
    for service in keys(local.services) : service => {
      service_name             = "${local.name}-${service}"
      cluster_name             = module.ecs.cluster_name
      load_balancer_arn_suffix = module.alb[service].arn_suffix
      target_group_arn_suffix  = module.alb[service].target_group_arn_suffix
    }
  }
  database_identifier = local.name # module.database's identifier (it depends on the services)
  thresholds          = var.alarm_thresholds
}
