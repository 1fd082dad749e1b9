output "role_arns" {
  description = "ARN of each state role, by name."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}
