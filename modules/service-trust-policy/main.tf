# The trust policy of a role an AWS service assumes, with the cross-service confused-deputy guard
# AWS documents (IAM User Guide, "The confused deputy problem"): the service may assume the role
# only on behalf of this account (aws:SourceAccount) and, where the service documents the source
# ARN it sets, only for these resources (aws:SourceArn). One document, used by every service role
# of the stack (modules/ecs, network, scheduled-job, cert-renewer).
data "aws_iam_policy_document" "this" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [var.service]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }

    dynamic "condition" {
      for_each = length(var.source_arns) > 0 ? [var.source_arns] : []
      content {
        test     = var.source_arn_test
        variable = "aws:SourceArn"
        values   = condition.value
      }
    }
  }
}
