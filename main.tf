provider "aws" {
  region  = var.region
  profile = var.profile
  # The last line of defence against the wrong profile: the provider refuses any other account.
  allowed_account_ids = [var.account_id]
  s3_use_path_style   = var.s3_use_path_style

  default_tags {
    tags = {
      Project     = var.project
      Environment = var.stage
      ManagedBy   = "terraform"
    }
  }

  # `inv refresh|deploy` record a service's previous revision in this tag (for `inv rollback`):
  # it is the tooling's, not Terraform's, so a plan must neither show it nor remove it.
  ignore_tags {
    keys = ["stackops:previous-task-definition"]
  }
}

locals {
  name          = "${var.project}-${var.stage}"
  log_bucket    = "${local.name}-log-${var.account_id}"
  buckets       = merge(module.bucket, { log = module.log_bucket })
  frontend_host = "${var.frontend_prefix}.${var.zone_name}"
  backend_host  = "${var.backend_prefix}.${var.zone_name}"

  # The two public services: concept (frontend) and django (backend API).
  services = {
    concept = { host = local.frontend_host, port = 80 }
    django  = { host = local.backend_host, port = 80 }
  }

  # Plain settings passed to the containers (secrets arrive separately, from secrets.tf).
  service_environment = {
    concept = {
      STAGE             = var.stage
      API_URL           = "https://${local.backend_host}"
      FRONTEND_BASE_URL = "https://${local.frontend_host}"
    }
    django = merge(
      {
        STAGE             = var.stage
        ALLOWED_HOSTS     = local.backend_host
        API_URL           = "https://${local.backend_host}"
        FRONTEND_BASE_URL = "https://${local.frontend_host}"
        DATABASE_HOST     = module.database.address
        DATABASE_PORT     = tostring(module.database.port)
        DATABASE_NAME     = module.database.database_name
        DATABASE_USER     = module.database.username
        AWS_REGION        = var.region
        PARAMETER_PREFIX  = "/${var.project}/${var.stage}"
      },
      { for setting, queue in aws_sqs_queue.this : setting => queue.name },
      { for purpose, bucket in local.buckets : "S3_${upper(purpose)}_BUCKET" => bucket.id },
    )
  }
  service_environment_json = {
    # A `for` over a map walks its keys in order, so the JSON (and the revision) is stable.
    for service, settings in local.service_environment :
    service => jsonencode([
      for key, value in merge(settings, lookup(var.extra_environment, service, {})) : { name = key, value = value }
    ])
  }

  # The pipelines own the images: a revision Terraform registers (a changed setting, size or
  # role) keeps the image the service runs now, so an apply never rolls an application back.
  service_images = {
    for service in keys(local.services) : service => lookup(
      var.running_images, service, "${module.ecs.repository_urls["${local.name}-${service}"]}:${var.image_tag}"
    )
  }

  # Published by `inv cert` (stackops/certs/); an explicit var.certificate_arn wins.
  published_certificate = {
    for i, name in data.aws_ssm_parameters_by_path.certificate.names :
    name => nonsensitive(data.aws_ssm_parameters_by_path.certificate.values[i])
  }
  certificate_arn = var.certificate_arn != null ? var.certificate_arn : lookup(
    local.published_certificate, "/${var.project}/${var.stage}/acm/certificate-arn", null
  )
}

data "aws_ssm_parameters_by_path" "certificate" {
  path = "/${var.project}/${var.stage}/acm"
}

resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:DNSSEC needs a KMS key in us-east-1 and a DS record at the parent; out of scope for now
  #checkov:skip=CKV2_AWS_39:query logging needs a log group in us-east-1; the ALB and flow logs record the traffic
  name    = var.zone_name
  comment = "${local.name}: managed by Terraform"
}

module "network" {
  source = "./modules/network"

  name             = local.name
  account_id       = var.account_id
  region           = var.region
  cidr             = var.vpc_cidr
  azs              = var.azs
  public_subnets   = var.public_subnets
  private_subnets  = var.private_subnets
  database_subnets = var.database_subnets
  nat_mode         = var.nat_mode
  nacl_rules       = local.nacl_rules
}

# The network's per-AZ resources were indexed by position (count) and are keyed by AZ now. Every
# environment deployed before used ["eu-west-2a", "eu-west-2b"], so their state moves without a
# replacement (a block whose old address is not in a state does nothing). Remove after every
# environment has applied once.
moved {
  from = module.network.aws_subnet.public[0]
  to   = module.network.aws_subnet.public["eu-west-2a"]
}

moved {
  from = module.network.aws_subnet.public[1]
  to   = module.network.aws_subnet.public["eu-west-2b"]
}

moved {
  from = module.network.aws_subnet.private[0]
  to   = module.network.aws_subnet.private["eu-west-2a"]
}

moved {
  from = module.network.aws_subnet.private[1]
  to   = module.network.aws_subnet.private["eu-west-2b"]
}

moved {
  from = module.network.aws_subnet.database[0]
  to   = module.network.aws_subnet.database["eu-west-2a"]
}

moved {
  from = module.network.aws_subnet.database[1]
  to   = module.network.aws_subnet.database["eu-west-2b"]
}

moved {
  from = module.network.aws_route_table.private[0]
  to   = module.network.aws_route_table.private["eu-west-2a"]
}

moved {
  from = module.network.aws_route_table.private[1]
  to   = module.network.aws_route_table.private["eu-west-2b"]
}

moved {
  from = module.network.aws_route_table_association.public[0]
  to   = module.network.aws_route_table_association.public["eu-west-2a"]
}

moved {
  from = module.network.aws_route_table_association.public[1]
  to   = module.network.aws_route_table_association.public["eu-west-2b"]
}

moved {
  from = module.network.aws_route_table_association.private[0]
  to   = module.network.aws_route_table_association.private["eu-west-2a"]
}

moved {
  from = module.network.aws_route_table_association.private[1]
  to   = module.network.aws_route_table_association.private["eu-west-2b"]
}

moved {
  from = module.network.aws_route_table_association.database[0]
  to   = module.network.aws_route_table_association.database["eu-west-2a"]
}

moved {
  from = module.network.aws_route_table_association.database[1]
  to   = module.network.aws_route_table_association.database["eu-west-2b"]
}

moved {
  from = module.network.aws_route.private_nat[0]
  to   = module.network.aws_route.private_nat["eu-west-2a"]
}

moved {
  from = module.network.aws_route.private_nat[1]
  to   = module.network.aws_route.private_nat["eu-west-2b"]
}

moved {
  from = module.network.aws_eip.nat[0]
  to   = module.network.aws_eip.nat["eu-west-2a"]
}

moved {
  from = module.network.aws_eip.nat[1]
  to   = module.network.aws_eip.nat["eu-west-2b"]
}

moved {
  from = module.network.aws_nat_gateway.this[0]
  to   = module.network.aws_nat_gateway.this["eu-west-2a"]
}

moved {
  from = module.network.aws_nat_gateway.this[1]
  to   = module.network.aws_nat_gateway.this["eu-west-2b"]
}

# The log bucket first: every other bucket sends its server access logs there.
module "log_bucket" {
  source = "./modules/s3"

  bucket             = local.log_bucket
  force_destroy      = var.force_destroy_buckets
  access_log_sources = [for purpose in setsubtract(var.buckets, ["log"]) : "${local.name}-${purpose}-${var.account_id}"]
}

module "bucket" {
  source   = "./modules/s3"
  for_each = setsubtract(var.buckets, ["log"])

  bucket        = "${local.name}-${each.key}-${var.account_id}"
  force_destroy = var.force_destroy_buckets
  # Known at plan time (the module counts on it); only the bucket's logging waits for the log
  # bucket's policy. (A depends_on on the module made every resource of it wait for the whole log
  # bucket, its lifecycle rules included, which the provider waits on for about a minute.)
  access_log_bucket = module.log_bucket.log_target
}

resource "aws_sqs_queue" "this" {
  for_each = var.queues

  name                    = "${local.name}-${each.value}"
  sqs_managed_sse_enabled = true
}

module "alb" {
  source   = "./modules/alb"
  for_each = local.services

  name                = "${local.name}-${each.key}"
  vpc_id              = module.network.vpc_id
  vpc_cidr            = module.network.vpc_cidr
  subnet_ids          = module.network.public_subnet_ids
  target_port         = each.value.port
  certificate_arn     = local.certificate_arn
  deletion_protection = var.alb_deletion_protection
  zone_id             = aws_route53_zone.this.zone_id
  host_name           = each.value.host
}

module "ecs" {
  source = "./modules/ecs"

  name                      = local.name
  account_id                = var.account_id
  region                    = var.region
  container_insights        = var.container_insights
  repositories              = toset([for service in keys(local.services) : "${local.name}-${service}"])
  keep_images               = var.ecr_keep_images
  force_delete_repositories = var.force_delete_repositories
  log_retention_days        = var.log_retention_days
  execution_secret_arns     = local.execution_secret_arns
  task_role_policies = {
    concept = data.aws_iam_policy_document.concept_task.json
    django  = data.aws_iam_policy_document.django_task.json
  }
}

module "batch" {
  source = "./modules/batch"

  name                      = "${local.name}-batch"
  container_insights        = var.container_insights
  repositories              = toset([for repo in var.batch_repositories : "${local.name}-batch-${repo}"])
  keep_images               = var.ecr_keep_images
  force_delete_repositories = var.force_delete_repositories
}

module "service" {
  source   = "./modules/service"
  for_each = local.services

  name           = "${local.name}-${each.key}"
  cluster_arn    = module.ecs.cluster_arn
  cluster_name   = module.ecs.cluster_name
  container_name = each.key
  container_port = each.value.port
  cpu            = var.service_sizes[each.key].cpu
  memory         = var.service_sizes[each.key].memory
  # One template for both web services: they differ only in the values passed here.
  container_definitions = templatefile("${path.module}/task-definitions/web.json", {
    name        = each.key
    image       = local.service_images[each.key]
    port        = each.value.port
    log_group   = module.ecs.log_group_name
    region      = var.region
    environment = local.service_environment_json[each.key]
    secrets     = jsonencode(local.service_secrets[each.key])
  })
  image                           = local.service_images[each.key]
  execution_role_arn              = module.ecs.execution_role_arn
  task_role_arn                   = module.ecs.task_role_arns[each.key]
  vpc_id                          = module.network.vpc_id
  subnet_ids                      = module.network.private_subnet_ids
  load_balancer_security_group_id = module.alb[each.key].security_group_id
  target_group_arn                = module.alb[each.key].target_group_arn
  egress_rules = merge(
    {
      https = { port = 443, cidr = "0.0.0.0/0" } # AWS APIs, ECR, partners' APIs
      smtp  = { port = 587, cidr = "0.0.0.0/0" } # outgoing mail (submission)
    },
    { for i, cidr in var.database_subnets : "postgres-${i}" => { port = 5432, cidr = cidr } },
  )
  min_count = var.service_min_count
  max_count = var.service_max_count
  # Its target 5xx rate and unhealthy hosts (alarms.tf): ECS rolls back a release that trips one.
  deployment_alarm_names = module.alarms.deployment_alarm_names[each.key]
}

# The one-off migration task (`inv migrate`): the image the backend runs, its roles and secrets,
# run with the backend service's network configuration. Shared with the tools like the services'
# revisions (modules/service): `inv refresh|deploy|rollback` register a copy with the backend's
# new image after each rollout, so the migration always matches the deployed backend.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${local.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.service_sizes["migrate"].cpu
  memory                   = var.service_sizes["migrate"].memory
  execution_role_arn       = module.ecs.execution_role_arn
  task_role_arn            = module.ecs.task_role_arns["django"]
  container_definitions = templatefile("${path.module}/task-definitions/migrate.json", {
    name        = "migrate"
    image       = local.service_images["django"]
    log_group   = module.ecs.log_group_name
    region      = var.region
    environment = local.service_environment_json["django"]
    secrets     = jsonencode(local.service_secrets["migrate"])
  })

  # The container's root filesystem is read-only: /tmp is its one writable folder.
  volume {
    name = "tmp"
  }

  track_latest = true
  skip_destroy = true
  tags = {
    "stackops:registered-by" = "terraform"
    "stackops:image"         = length(local.service_images["django"]) <= 256 ? local.service_images["django"] : "-"
  }

  lifecycle {
    ignore_changes = [tags]
  }
}

module "database" {
  source = "./modules/rds"

  identifier           = local.name
  vpc_id               = module.network.vpc_id
  db_subnet_group_name = module.network.db_subnet_group_name
  # Keyed by service or job name (known at plan time), valued by their security groups.
  allowed_security_group_ids = merge(
    { for service, svc in module.service : service => svc.security_group_id },
    { for name, job in module.job : "job-${name}" => job.security_group_id },
  )
  instance_class        = var.db_instance_class
  allocated_storage     = var.db_allocated_storage
  database_name         = var.db_name
  username              = var.db_username
  password              = ephemeral.aws_secretsmanager_secret_version.db_password.secret_string
  password_version      = var.db_password_version
  multi_az              = var.db_multi_az
  deletion_protection   = var.db_deletion_protection
  skip_final_snapshot   = var.db_skip_final_snapshot
  backup_retention_days = var.db_backup_retention_days
  # The policy's arn (the topic's): the subscription is created once RDS may publish to the topic.
  event_topic_arn = aws_sns_topic_policy.alarms.arn
}
