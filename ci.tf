# The CI system's roles in this environment's account (modules/ci-roles, README "Running it from
# CI"): created when the tfvars name the repository (`ci_repository`). Their permissions are the
# operator policies' documents (operator-policies/*.json), rendered as `python -m
# stackops.operator_policies` renders them, so a command that learns a new AWS call grants it to
# CI with the same edit. The state roles they assume are tf-init's (`inv bootstrap`).

locals {
  # Which operator policies each CI role holds: the plan role plans and checks drift; the apply
  # role applies (Terraform's creates, updates and deletes), rolls services out and renews
  # certificates, and plans first.
  ci_policy_files = toset(["plan", "deploy", "cert", "apply"])
  ci_policies = { for name in local.ci_policy_files : name => templatefile(
    "${path.module}/operator-policies/${name}.json", { env = var.stage, region = var.region, account_id = var.account_id }
  ) }
  # tf-init names the state roles so (modules/ci-state-roles, through tf-init/ci.tf).
  ci_state_role_prefix = "arn:${data.aws_partition.current.partition}:iam::${var.master_account_id}:role/${local.name}-ci-state"
}

module "ci_roles" {
  source = "./modules/ci-roles"
  count  = var.ci_repository == null ? 0 : 1

  name_prefix       = local.name
  account_id        = var.account_id
  repository        = var.ci_repository
  branch            = var.ci_branch
  apply_environment = var.ci_apply_environment
  oidc_url          = var.ci_oidc_url
  oidc_audience     = var.ci_oidc_audience
  policies          = local.ci_policies
  plan_policies     = ["plan"]
  apply_policies    = ["plan", "deploy", "cert", "apply"]
  state_role_arns = {
    plan  = "${local.ci_state_role_prefix}-plan"
    apply = "${local.ci_state_role_prefix}-apply"
  }
}
