variable "environment_name" {
  description = "The environment the alarms watch (named in their descriptions)."
  type        = string
}

variable "topic_arn" {
  description = "SNS topic every alarm notifies, on ALARM and on OK."
  type        = string
}

variable "services" {
  description = "The services to watch, by key: their ECS cluster and service names, and the ARN suffixes of their load balancer (app/<name>/<id>) and target group (targetgroup/<name>/<id>), CloudWatch's LoadBalancer and TargetGroup dimensions."
  type = map(object({
    service_name             = string
    cluster_name             = string
    load_balancer_arn_suffix = string
    target_group_arn_suffix  = string
  }))
}

variable "database_identifier" {
  description = "The RDS instance to watch (the DBInstanceIdentifier dimension)."
  type        = string
}

variable "thresholds" {
  description = "When each alarm fires. Percentages 0-100; unhealthy_hosts: more targets than this unhealthy; fast_*: the 1-minute deployment alarms (5xx rate, unhealthy hosts); evaluation_periods: the 5-minute alarms, all periods breaching."
  type = object({
    target_5xx_percent        = number
    unhealthy_hosts           = number
    response_time_p95_seconds = number
    service_cpu_percent       = number
    service_memory_percent    = number
    db_cpu_percent            = number
    db_free_storage_gib       = number
    db_connections            = number
    fast_evaluation_periods   = number
    fast_datapoints_to_alarm  = number
    evaluation_periods        = number
  })
}
