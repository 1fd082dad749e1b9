output "cluster_arn" {
  description = "ARN of the batch cluster."
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the batch cluster."
  value       = aws_ecs_cluster.this.name
}

output "repository_urls" {
  description = "ECR repository URLs of the batch jobs by name."
  value       = module.repositories.repository_urls
}

output "repository_arns" {
  description = "ECR repository ARNs of the batch jobs by name."
  value       = module.repositories.repository_arns
}
