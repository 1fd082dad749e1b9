# References to the secrets the services use. The catalogue (secrets.yaml) is the one list:
# `inv secrets` creates the values in Secrets Manager; here only their metadata is looked up, so
# no secret value ever enters Terraform state or plans.
locals {
  secret_catalogue = yamldecode(file("${path.module}/secrets.yaml")).secrets
  secret_prefix    = "/${var.project}/${var.stage}/"

  # Every (service, container variable, secret) triple the catalogue declares.
  secret_bindings = flatten([
    for secret in local.secret_catalogue : [
      for consumer in secret.consumers : {
        service  = consumer.service
        variable = consumer.variable
        secret   = secret.name
      }
    ]
  ])

  # The `secrets` list of each task definition's container: the services and the migration task.
  service_secrets = {
    for service in concat(keys(local.services), ["migrate"]) : service => [
      for binding in local.secret_bindings : {
        name      = binding.variable
        valueFrom = data.aws_secretsmanager_secret.this[binding.secret].arn
      } if binding.service == service
    ]
  }
}

data "aws_secretsmanager_secret" "this" {
  for_each = toset([for secret in local.secret_catalogue : secret.name])

  name = "${local.secret_prefix}${each.key}"
}

# Read during plan and apply only, never stored: feeds the database's write-only password argument.
ephemeral "aws_secretsmanager_secret_version" "db_password" {
  secret_id = data.aws_secretsmanager_secret.this["db-password"].arn
}

# -- who may use them (modules/secret-access-policy) ------------------------------------------------
locals {
  # Exactly the secrets the task definitions name: the services', migrate's and the jobs' (jobs.tf).
  # The execution role reads them to inject them into the containers.
  execution_secret_arns = distinct(concat(
    [for binding in local.secret_bindings : data.aws_secretsmanager_secret.this[binding.secret].arn],
    flatten([for secrets in values(local.job_secrets) : [for secret in secrets : secret.valueFrom]]),
  ))

  # Terraform on each secret: a plan reads its metadata and resource policy (the data source above
  # and the policy's refresh), an apply writes the policy; the database password's value is read
  # by both (the ephemeral resource above).
  terraform_secret_reads = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"]
  terraform_secret_actions = {
    plan  = local.terraform_secret_reads
    apply = concat(local.terraform_secret_reads, ["secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy"])
  }
  # What an apply does to a secret Terraform owns (the ACME account's, renewal.tf) beyond the policy.
  terraform_managed_secret_actions = ["secretsmanager:DeleteSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource", "secretsmanager:UpdateSecret"]
  # The CI roles run Terraform (ci.tf; modules/ci-roles names them <name>-ci-plan and -ci-apply).
  ci_secret_roles = var.ci_repository == null ? {} : {
    CiPlan  = { arn = "${local.arn_prefix.iam}:role/${local.name}-ci-plan", actions = local.terraform_secret_actions.plan }
    CiApply = { arn = "${local.arn_prefix.iam}:role/${local.name}-ci-apply", actions = local.terraform_secret_actions.apply }
  }
}

# Every other principal of the account, the root user included, is denied every secret; the
# administrators (whoever runs `inv secrets` and Terraform by hand) are held by their own policies.
module "secret_access_policy" {
  source   = "./modules/secret-access-policy"
  for_each = data.aws_secretsmanager_secret.this

  secret_arn     = each.value.arn
  administrators = var.secret_administrators
  roles = merge(
    contains(local.execution_secret_arns, each.value.arn) ? {
      ExecutionRole = { arn = local.execution_role_arn, actions = ["secretsmanager:GetSecretValue"] }
    } : {},
    { for key, role in local.ci_secret_roles : key => {
      arn     = role.arn
      actions = concat(role.actions, each.key == "db-password" ? ["secretsmanager:GetSecretValue"] : [])
    } },
  )
}
