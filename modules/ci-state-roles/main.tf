# The state account's side of CI: one role per environment and kind (plan, apply), each assumable
# by that environment's CI role only, holding what Terraform's S3 backend needs of the state.
#
# One role per kind rather than one for both: the permissions of a role session are the assumed
# role's, whoever assumed it, so a state role the plan role could assume would give it the apply
# role's writes too. (Session policies would narrow it, but the caller chooses those.)

locals {
  # The trusted role's account and the role itself: the principal is the account, narrowed to the
  # role by aws:PrincipalArn. A role ARN as the principal would have IAM refuse the policy while
  # the role does not exist yet ("Invalid principal in policy": the state account is bootstrapped
  # before any environment is applied) and stop matching once it is recreated (IAM stores the
  # role's unique id in its place).
  trust = { for name, role in var.roles : name => {
    account = regex("^arn:aws[a-z-]*:iam::([0-9]{12}):", role.trusted_role_arn)[0]
    role    = role.trusted_role_arn
  } }
}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "trust" {
  for_each = local.trust

  statement {
    sid     = "TheEnvironmentsCiRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${each.value.account}:root"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [each.value.role]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = var.roles

  name                 = each.key
  description          = "Terraform state access of ${each.value.trusted_role_arn}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = var.max_session_duration
}

resource "aws_iam_role_policy" "this" {
  for_each = var.roles

  name   = "state"
  role   = aws_iam_role.this[each.key].name
  policy = each.value.policy
}
