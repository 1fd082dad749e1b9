# The environment's CloudWatch alarms, all to one SNS topic: per service the load balancer's view
# (target 5xx rate, unhealthy hosts, p95 response time) and ECS's (CPU, memory); the database's
# CPU, free storage and connections. Dimensions are built from names and ARN suffixes the root
# knows, so no alarm depends on the service or database it watches (the services name their
# deployment alarms from this module's outputs).
locals {
  thresholds = var.thresholds
  actions    = [var.topic_arn]

  # Alarm name => settings, for the load balancer and ECS alarms of every service.
  service_alarms = merge([
    for service, s in var.services : {
      "${s.service_name}-unhealthy-hosts" = {
        description = "${s.service_name}: a target of its load balancer failed its health check (inv status --env ${var.environment_name}); a deployment alarm: ECS rolls a release back on it"
        namespace   = "AWS/ApplicationELB"
        metric      = "UnHealthyHostCount"
        dimensions  = { LoadBalancer = s.load_balancer_arn_suffix, TargetGroup = s.target_group_arn_suffix }
        statistic   = "Maximum"
        extended    = null
        period      = 60
        periods     = local.thresholds.fast_evaluation_periods
        datapoints  = local.thresholds.fast_datapoints_to_alarm
        operator    = "GreaterThanThreshold"
        threshold   = local.thresholds.unhealthy_hosts
      }
      "${s.service_name}-response-time-p95" = {
        description = "${s.service_name}: 95% of requests took less than ${local.thresholds.response_time_p95_seconds}s at its targets, no longer"
        namespace   = "AWS/ApplicationELB"
        metric      = "TargetResponseTime"
        dimensions  = { LoadBalancer = s.load_balancer_arn_suffix, TargetGroup = s.target_group_arn_suffix }
        statistic   = null
        extended    = "p95"
        period      = 300
        periods     = local.thresholds.evaluation_periods
        datapoints  = local.thresholds.evaluation_periods
        operator    = "GreaterThanThreshold"
        threshold   = local.thresholds.response_time_p95_seconds
      }
      "${s.service_name}-cpu" = {
        description = "${s.service_name}: average CPU of its tasks above ${local.thresholds.service_cpu_percent}% (autoscaling may be at its ceiling)"
        namespace   = "AWS/ECS"
        metric      = "CPUUtilization"
        dimensions  = { ClusterName = s.cluster_name, ServiceName = s.service_name }
        statistic   = "Average"
        extended    = null
        period      = 300
        periods     = local.thresholds.evaluation_periods
        datapoints  = local.thresholds.evaluation_periods
        operator    = "GreaterThanThreshold"
        threshold   = local.thresholds.service_cpu_percent
      }
      "${s.service_name}-memory" = {
        description = "${s.service_name}: average memory of its tasks above ${local.thresholds.service_memory_percent}%"
        namespace   = "AWS/ECS"
        metric      = "MemoryUtilization"
        dimensions  = { ClusterName = s.cluster_name, ServiceName = s.service_name }
        statistic   = "Average"
        extended    = null
        period      = 300
        periods     = local.thresholds.evaluation_periods
        datapoints  = local.thresholds.evaluation_periods
        operator    = "GreaterThanThreshold"
        threshold   = local.thresholds.service_memory_percent
      }
    }
  ]...)

  database_alarms = {
    "${var.database_identifier}-db-cpu" = {
      description = "Database ${var.database_identifier}: average CPU above ${local.thresholds.db_cpu_percent}%"
      metric      = "CPUUtilization"
      statistic   = "Average"
      operator    = "GreaterThanThreshold"
      threshold   = local.thresholds.db_cpu_percent
    }
    "${var.database_identifier}-db-free-storage" = {
      description = "Database ${var.database_identifier}: less than ${local.thresholds.db_free_storage_gib} GiB of storage free (raise db_allocated_storage)"
      metric      = "FreeStorageSpace"
      statistic   = "Minimum"
      operator    = "LessThanThreshold"
      threshold   = local.thresholds.db_free_storage_gib * 1024 * 1024 * 1024 # the metric is in bytes
    }
    "${var.database_identifier}-db-connections" = {
      description = "Database ${var.database_identifier}: more than ${local.thresholds.db_connections} connections (its class's max_connections is near)"
      metric      = "DatabaseConnections"
      statistic   = "Maximum"
      operator    = "GreaterThanThreshold"
      threshold   = local.thresholds.db_connections
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "service" {
  for_each = local.service_alarms

  alarm_name          = each.key
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = each.value.period
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.datapoints
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  # No traffic, no tasks reporting: not a failure (an idle dev environment stays quiet).
  treat_missing_data = "notBreaching"
  alarm_actions      = local.actions
  ok_actions         = local.actions
}

# The share of requests its targets answered with a 5xx, in percent: metric math, since no
# metric holds the ratio. FILL turns a minute without requests or errors into 0, and IF keeps a
# minute without requests at 0% instead of a division by zero.
resource "aws_cloudwatch_metric_alarm" "target_5xx_rate" {
  for_each = var.services

  alarm_name          = "${each.value.service_name}-5xx-rate"
  alarm_description   = "${each.value.service_name}: more than ${local.thresholds.target_5xx_percent}% of requests answered 5xx by its targets; a deployment alarm: ECS rolls a release back on it"
  evaluation_periods  = local.thresholds.fast_evaluation_periods
  datapoints_to_alarm = local.thresholds.fast_datapoints_to_alarm
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.thresholds.target_5xx_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    label       = "Target 5xx (% of requests)"
    expression  = "IF(FILL(requests, 0) > 0, 100 * FILL(errors, 0) / FILL(requests, 0), 0)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = each.value.load_balancer_arn_suffix, TargetGroup = each.value.target_group_arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = each.value.load_balancer_arn_suffix, TargetGroup = each.value.target_group_arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "database" {
  for_each = local.database_alarms

  alarm_name          = each.key
  alarm_description   = each.value.description
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBInstanceIdentifier = var.database_identifier }
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = local.thresholds.evaluation_periods
  datapoints_to_alarm = local.thresholds.evaluation_periods
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}
