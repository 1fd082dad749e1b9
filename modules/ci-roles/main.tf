# The CI system's roles in one environment account: an OpenID Connect identity provider for its
# tokens, a plan role (read-only) and an apply role, each assumable only by this repository's
# workflows, with AssumeRoleWithWebIdentity and no long-lived key.

locals {
  issuer = trimprefix(var.oidc_url, "https://")
  # The provider's ARN as IAM forms it (oidc-provider/<URL without https://>), not the resource's
  # attribute: so the trust policies are known at plan time, shown by `inv plan` and linted.
  provider_arn = coalesce(var.oidc_provider_arn, "arn:${data.aws_partition.current.partition}:iam::${var.account_id}:oidc-provider/${local.issuer}")
  repo         = "repo:${var.repository}"

  # The `sub` claim GitHub Actions puts in a job's token: `repo:O/R:pull_request` for a pull
  # request's run, `repo:O/R:environment:NAME` for a job with a deployment environment (it replaces
  # the ref), `repo:O/R:ref:refs/heads/BRANCH` otherwise. A pull request from a fork gets no token
  # with `id-token: write` unless the repository allows it.
  subjects = {
    # Pull requests plan; the protected branch's scheduled runs check drift (read-only as well).
    plan = ["${local.repo}:pull_request", "${local.repo}:ref:refs/heads/${var.branch}"]
    apply = (var.apply_environment == null ? ["${local.repo}:ref:refs/heads/${var.branch}"]
    : ["${local.repo}:environment:${var.apply_environment}"])
  }
  attached = {
    plan  = var.plan_policies
    apply = var.apply_policies
  }
  # A managed policy holds at most 6,144 characters (whitespace aside), a role at most 10 of them
  # (IAM quotas): each document is split into policies of at most `statements_per_policy`
  # statements, `<name>-1`, `<name>-2`, ..., and every part of it attached.
  statements = { for name, document in var.policies : name => jsondecode(document).Statement }
  # (jsondecode gives a tuple of differently shaped statements, which chunklist refuses: sliced.)
  parts = merge([for name, statements in local.statements : {
    for start in range(0, length(statements), var.statements_per_policy) :
    "${name}-${floor(start / var.statements_per_policy) + 1}" => jsonencode({
      Version   = "2012-10-17"
      Statement = slice(statements, start, min(start + var.statements_per_policy, length(statements)))
    })
  }]...)
  part_names = { for name, statements in local.statements : name => [
    for index in range(ceil(length(statements) / var.statements_per_policy)) : "${name}-${index + 1}"
  ] }
  attachments = merge([
    for role, names in local.attached : {
      for part in flatten([for name in names : local.part_names[name]]) : "${role}/${part}" => { role = role, policy = part }
    }
  ]...)
}

data "aws_partition" "current" {}

resource "aws_iam_openid_connect_provider" "this" {
  count = var.oidc_provider_arn == null ? 1 : 0

  url            = var.oidc_url
  client_id_list = [var.oidc_audience]
  # No thumbprint_list: since July 2023 AWS verifies GitHub's (and other well-known) issuers against
  # its library of trusted root CAs and ignores thumbprints; the API made them optional in 2024 and
  # computes one for other issuers when none is given.
}

data "aws_iam_policy_document" "trust" {
  for_each = local.subjects

  statement {
    sid     = "CiWebIdentity"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = [var.oidc_audience]
    }

    # StringEquals, never StringLike: no wildcard can widen the trust to other refs or environments.
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.subjects

  name                 = "${var.name_prefix}-ci-${each.key}"
  description          = "CI ${each.key} role of ${var.repository}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = var.max_session_duration
  depends_on           = [aws_iam_openid_connect_provider.this] # the principal it trusts exists first

  lifecycle {
    precondition {
      condition     = length([for key, attachment in local.attachments : key if attachment.role == each.key]) <= 10
      error_message = "the ${each.key} role would hold more than IAM's 10 managed policies: raise statements_per_policy."
    }
  }
}

resource "aws_iam_policy" "this" {
  for_each = local.parts

  name        = "${var.name_prefix}-ci-${each.key}"
  description = "CI role policy ${each.key} of ${var.repository}"
  policy      = each.value

  lifecycle {
    precondition {
      condition     = length(each.value) <= 6144
      error_message = "${each.key} is over IAM's 6,144 characters for a managed policy: lower statements_per_policy."
    }
  }
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.attachments

  role       = aws_iam_role.this[each.value.role].name
  policy_arn = aws_iam_policy.this[each.value.policy].arn
}

# The state lives in the master account: each role may assume its own state role there (which
# trusts it back), and nothing else in that account.
data "aws_iam_policy_document" "state" {
  for_each = local.subjects

  statement {
    sid       = "AssumeTheStateRole"
    actions   = ["sts:AssumeRole"]
    resources = [var.state_role_arns[each.key]]
  }
}

resource "aws_iam_role_policy" "state" {
  for_each = local.subjects

  name   = "state"
  role   = aws_iam_role.this[each.key].name
  policy = data.aws_iam_policy_document.state[each.key].json
}
