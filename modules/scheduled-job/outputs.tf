output "family" {
  description = "Task definition family of the job (the schedule runs its latest ACTIVE revision)."
  value       = aws_ecs_task_definition.this.family
}

output "schedule_name" {
  description = "Name of the job's schedule (in the default schedule group)."
  value       = aws_scheduler_schedule.this.name
}

output "schedule_expression" {
  description = "The schedule's expression."
  value       = aws_scheduler_schedule.this.schedule_expression
}

output "schedule_timezone" {
  description = "The time zone the expression is read in."
  value       = aws_scheduler_schedule.this.schedule_expression_timezone
}

output "dead_letter_queue_url" {
  description = "URL of the queue the runs Scheduler could not start go to."
  value       = aws_sqs_queue.dead_letter.url
}

output "dead_letter_queue_arn" {
  description = "ARN of that queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "security_group_id" {
  description = "Security group of the job's tasks (the database admits it)."
  value       = aws_security_group.this.id
}

output "subnet_ids" {
  description = "Subnets the job's tasks run in."
  value       = var.subnet_ids
}

output "task_role_arn" {
  description = "ARN of the role the job's code runs as."
  value       = aws_iam_role.task.arn
}

output "scheduler_role_arn" {
  description = "ARN of the role Scheduler runs the job with."
  value       = aws_iam_role.scheduler.arn
}
