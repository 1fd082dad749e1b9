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
