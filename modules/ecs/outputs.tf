output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "repository_urls" {
  description = "ECR repository URLs by name."
  value       = module.repositories.repository_urls
}

output "log_group_name" {
  description = "CloudWatch log group the services and one-off tasks write to."
  value       = aws_cloudwatch_log_group.this.name
}

output "execution_role_arn" {
  description = "ARN of the task execution role (image pull, logs, secret injection)."
  value       = aws_iam_role.execution.arn
}

output "task_role_arns" {
  description = "ARNs of the task roles by key."
  value       = { for key, role in aws_iam_role.task : key => role.arn }
}
