# The scheduled jobs (jobs.yaml): each runs as a one-off Fargate task on the batch cluster, started
# by its EventBridge Scheduler schedule (modules/scheduled-job). `inv` validates the catalogue before
# every plan (stackops/jobs/catalogue.py); the module's variables keep a backstop.
locals {
  job_catalogue = { for job in yamldecode(file("${path.module}/jobs.yaml")).jobs : job.name => job }

  # The container of each job is named "job"; its log stream prefix is job-<name>, so its streams
  # are job-<name>/job/<task id> in the stack's ECS log group.
  job_container = "job"

  # "backend": the image the backend runs now (followed after each rollout, as migrate's);
  # "batch:<repository>": that batch repository's image_tag.
  job_images = {
    for name, job in local.job_catalogue : name => (
      job.image == "backend" ? local.service_images["django"] :
      "${module.batch.repository_urls["${local.name}-batch-${trimprefix(job.image, "batch:")}"]}:${var.image_tag}"
    )
  }

  # The `secrets` list of each job's container, from the secrets catalogue's ARNs.
  job_secrets = {
    for name, job in local.job_catalogue : name => [
      for binding in lookup(job, "secrets", []) : {
        name      = binding.variable
        valueFrom = data.aws_secretsmanager_secret.this[binding.secret].arn
      }
    ]
  }

  # What a job may reach: AWS APIs and ECR over HTTPS, Postgres in the database subnets.
  job_egress_rules = merge(
    { https = { port = 443, cidr = "0.0.0.0/0" } },
    { for i, cidr in var.database_subnets : "postgres-${i}" => { port = 5432, cidr = cidr } },
  )
}

module "job" {
  source   = "./modules/scheduled-job"
  for_each = local.job_catalogue

  name                = "${local.name}-job-${each.key}"
  description         = each.value.description
  account_id          = var.account_id
  region              = var.region
  schedule_expression = each.value.schedule
  schedule_timezone   = lookup(each.value, "timezone", null) == null ? "UTC" : each.value.timezone
  cluster_arn         = module.batch.cluster_arn
  cpu                 = each.value.cpu
  memory              = each.value.memory
  image               = local.job_images[each.key]
  container_definitions = templatefile("${path.module}/task-definitions/job.json", {
    name        = local.job_container
    image       = local.job_images[each.key]
    command     = jsonencode(each.value.command)
    log_group   = module.ecs.log_group_name
    log_prefix  = "job-${each.key}"
    region      = var.region
    environment = local.service_environment_json["django"]
    secrets     = jsonencode(local.job_secrets[each.key])
  })
  # Built from its name (policies.tf), so each scheduler role's PassRole is whole in a plan.
  execution_role_arn = local.execution_role_arn
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  egress_rules       = local.job_egress_rules
}
