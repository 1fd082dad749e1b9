output "bucket" {
  description = "Name of the state bucket."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "Name of the DynamoDB lock table."
  value       = aws_dynamodb_table.locks.name
}

output "ci_state_role_arns" {
  description = "The CI state roles by name (the repository's STACK_STATE_ROLE_ARN variables of the plan and apply jobs)."
  value       = module.ci_state_roles.role_arns
}
