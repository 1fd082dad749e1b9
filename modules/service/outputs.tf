output "name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "family" {
  description = "Task definition family the service runs revisions of."
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_arn" {
  description = "ARN of the family's latest ACTIVE revision as of the last refresh (track_latest): Terraform's, or a pipeline's."
  value       = aws_ecs_task_definition.this.arn
}

output "security_group_id" {
  description = "Security group of the service's tasks (the database admits it)."
  value       = aws_security_group.this.id
}
