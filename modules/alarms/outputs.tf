output "deployment_alarm_names" {
  description = "By service key: the alarms ECS watches during that service's deployments (target 5xx rate, unhealthy hosts)."
  value = {
    for service, s in var.services : service => [
      aws_cloudwatch_metric_alarm.target_5xx_rate[service].alarm_name,
      aws_cloudwatch_metric_alarm.service["${s.service_name}-unhealthy-hosts"].alarm_name,
    ]
  }
}

output "alarm_names" {
  description = "Every alarm of the environment, sorted."
  value = sort(concat(
    keys(aws_cloudwatch_metric_alarm.service),
    [for alarm in aws_cloudwatch_metric_alarm.target_5xx_rate : alarm.alarm_name],
    keys(aws_cloudwatch_metric_alarm.database),
  ))
}
