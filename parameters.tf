# SSM parameters the applications and the batch jobs read their configuration from, under
# /<project>/<stage>/. Plain configuration only: secrets live in Secrets Manager (secrets.tf).
locals {
  parameter_prefix = "/${var.project}/${var.stage}"

  string_parameters = merge(
    { for purpose, bucket in local.buckets : "buckets/${purpose}" => bucket.id },
    {
      "database/host"      = module.database.address
      "database/name"      = module.database.database_name
      "database/username"  = module.database.username
      "batch/cluster-name" = module.batch.cluster_name
      "api-url"            = "https://${local.backend_host}"
    },
  )

  list_parameters = {
    "batch/subnet-cidrs" = module.network.private_subnet_cidrs
    "batch/subnet-ids"   = module.network.private_subnet_ids
  }
}

resource "aws_ssm_parameter" "string" {
  #checkov:skip=CKV2_AWS_34:plain configuration (names, hosts, ids); secrets are in Secrets Manager
  for_each = local.string_parameters

  name  = "${local.parameter_prefix}/${each.key}"
  type  = "String"
  value = each.value
}

resource "aws_ssm_parameter" "list" {
  #checkov:skip=CKV2_AWS_34:plain configuration (subnet ids and ranges); secrets are in Secrets Manager
  for_each = local.list_parameters

  name  = "${local.parameter_prefix}/${each.key}"
  type  = "StringList"
  value = join(",", each.value)
}
