# The state roles of the environments' CI roles (modules/ci-state-roles; README "Running it from
# CI"): per environment, `<project>-<env>-ci-state-plan`, which only that environment's plan role
# may assume and which holds operator-policies/plan-state.json (read the state, take the lock
# `terraform plan` takes), and `<project>-<env>-ci-state-apply` for its apply role
# (operator-policies/apply-state.json: read and write the state). The root's ci.tf names them so.

variable "ci_environments" {
  description = "The environments of this backend whose tfvars set ci_repository (inv bootstrap passes them): name => the operator policies' placeholders (stackops.operator_policies.placeholders) and project."
  type        = map(map(string))
  default     = {}
}

locals {
  ci_state_roles = merge([for env, values in var.ci_environments : {
    for kind in ["plan", "apply"] : "${values.project}-${env}-ci-state-${kind}" => {
      trusted_role_arn = "arn:aws:iam::${values.account_id}:role/${values.project}-${env}-ci-${kind}"
      policy           = jsonencode(jsondecode(templatefile("${path.module}/../operator-policies/${kind}-state.json", values)))
    }
  }]...)
}

module "ci_state_roles" {
  source = "../modules/ci-state-roles"

  roles = local.ci_state_roles
}
