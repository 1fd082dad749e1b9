output "function_name" {
  description = "Name of the renewal function (what `inv cert.renewer` invokes)."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the renewal function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.function.arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "account_key_secret_arn" {
  description = "Secrets Manager secret holding the ACME account (written by the function on its first run)."
  value       = aws_secretsmanager_secret.account_key.arn
}

output "schedule_name" {
  description = "Name of the EventBridge Scheduler schedule that runs the function."
  value       = aws_scheduler_schedule.this.name
}
