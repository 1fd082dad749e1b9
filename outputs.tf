output "urls" {
  description = "Public URLs of the services (https once a certificate is attached)."
  value       = { for service, alb in module.alb : service => alb.url }
}

output "load_balancer_dns_names" {
  description = "DNS names of the load balancers, by service."
  value       = { for service, alb in module.alb : service => alb.dns_name }
}

output "certificate_arn" {
  description = "ACM certificate on the HTTPS listeners; null until `inv cert` has issued one."
  value       = local.certificate_arn
}

output "https_listener_arns" {
  description = "HTTPS listener ARNs by service (null while there is no certificate)."
  value       = { for service, alb in module.alb : service => alb.https_listener_arn }
}

output "ecs" {
  description = "What `inv refresh`, `inv deploy`, `inv rollback` and `inv migrate` operate on: cluster, services with their task definition families and containers, the migration task, the log group."
  value = {
    cluster = module.ecs.cluster_name
    services = {
      for service, svc in module.service : service => {
        name      = svc.name
        family    = svc.family
        container = service
      }
    }
    migrate = {
      family       = aws_ecs_task_definition.migrate.family
      container    = "migrate"
      network_from = "django"
      image_from   = "django"
    }
    log_group = module.ecs.log_group_name
  }
}

output "jobs" {
  description = "What `inv job.run` and `inv job.list` operate on: the batch cluster, the log group, and per job (jobs.yaml) its family, container, log stream prefix, the service whose image it follows, its schedule, dead-letter queue and network."
  value = {
    cluster   = module.batch.cluster_name
    log_group = module.ecs.log_group_name
    jobs = {
      for name, job in module.job : name => {
        family            = job.family
        container         = local.job_container
        log_prefix        = "job-${name}"
        image_from        = local.job_catalogue[name].image == "backend" ? "django" : null
        schedule          = job.schedule_name
        expression        = job.schedule_expression
        timezone          = job.schedule_timezone
        dead_letter_queue = job.dead_letter_queue_url
        network = {
          subnets         = job.subnet_ids
          security_groups = [job.security_group_id]
        }
      }
    }
  }
}

output "ecr_repository_urls" {
  description = "ECR repositories of the services and of the batch jobs."
  value       = merge(module.ecs.repository_urls, module.batch.repository_urls)
}

output "batch_cluster_name" {
  description = "Cluster the backend runs its batch jobs on."
  value       = module.batch.cluster_name
}

output "database" {
  description = "What `inv migrate` (its snapshot first), `inv db.snapshots` and `inv db.restore` operate on: the instance's identifier, endpoint and address, the host the backend is given (extra_environment may switch it to a restored instance), and how many of the tool's snapshots to keep."
  value = {
    identifier = module.database.identifier
    endpoint   = module.database.endpoint
    address    = module.database.address
    # The host the backend and its migrations are given: extra_environment wins (after inv db.restore).
    backend_host  = lookup(lookup(var.extra_environment, "django", {}), "DATABASE_HOST", module.database.address)
    snapshot_keep = var.db_snapshot_keep
  }
}

output "database_endpoint" {
  description = "host:port of the Postgres database (private)."
  value       = module.database.endpoint
}

output "bucket_names" {
  description = "Application bucket names by purpose."
  value       = { for purpose, bucket in local.buckets : purpose => bucket.id }
}

output "queue_urls" {
  description = "SQS queue URLs by settings key."
  value       = { for setting, queue in aws_sqs_queue.this : setting => queue.url }
}

output "hosted_zone" {
  description = "The environment's Route53 zone: delegate to these name servers from the parent domain."
  value = {
    id           = aws_route53_zone.this.zone_id
    name         = aws_route53_zone.this.name
    name_servers = aws_route53_zone.this.name_servers
  }
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.network.vpc_id
}

output "secret_arns" {
  description = "Secrets Manager ARNs of the catalogue's secrets (names only; values never pass through Terraform)."
  value       = { for name, secret in data.aws_secretsmanager_secret.this : name => secret.arn }
}

output "cert_renewer" {
  description = "The certificate renewal function (`inv cert.renewer` runs it now): its name, log group, schedule and alarm topic."
  value = {
    function_name = module.cert_renewer.function_name
    log_group     = module.cert_renewer.log_group_name
    schedule      = module.cert_renewer.schedule_name
    alarm_topic   = aws_sns_topic.alarms.arn
  }
}

output "alarms" {
  description = "The environment's alarm topic and alarms, and the deployment alarms each service's rollouts watch."
  value = {
    topic             = aws_sns_topic.alarms.arn
    names             = module.alarms.alarm_names
    deployment_alarms = module.alarms.deployment_alarm_names
  }
}

output "ci_roles" {
  description = "The CI roles (null without ci_repository): plan and apply role ARNs, for the repository's variables."
  value = var.ci_repository == null ? null : {
    plan_role_arn  = module.ci_roles[0].plan_role_arn
    apply_role_arn = module.ci_roles[0].apply_role_arn
  }
}
