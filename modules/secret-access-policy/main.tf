# The resource policy of one secret: every principal is denied every Secrets Manager action on it
# except the stack's own roles that use it (each held to the actions it needs, below) and the
# administrators (whoever runs `inv secrets` and Terraform: their own IAM policies decide).
#
# Only Deny statements: the policy grants nothing, so access still needs an identity policy that
# allows it (same account). In AWS an explicit Deny in a resource policy binds every principal of
# the account, the root user included; aws:PrincipalArn of an assumed role's session is the role's
# ARN (arn:aws:iam::<account>:role/<name>), so the exceptions name roles, never sessions. The
# emulator (moto) stores the policy and returns it, but does not evaluate it on any request.
locals {
  exceptions = distinct(concat(var.administrators, [for role in values(var.roles) : role.arn]))
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyAllButTheStackAndItsAdministrators"
    effect    = "Deny"
    actions   = ["secretsmanager:*"]
    resources = ["*"] # in a secret's resource policy: this secret

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.exceptions
    }
  }

  # Each of the stack's roles may do on this secret what it needs, and nothing else.
  dynamic "statement" {
    for_each = var.roles
    content {
      sid         = "${statement.key}OnlyAsNeeded"
      effect      = "Deny"
      not_actions = statement.value.actions
      resources   = ["*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalArn"
        values   = [statement.value.arn]
      }
    }
  }
}

resource "aws_secretsmanager_secret_policy" "this" {
  secret_arn = var.secret_arn
  policy     = data.aws_iam_policy_document.this.json
  # Secrets Manager refuses a policy that would grant public or cross-account access.
  block_public_policy = true
}
