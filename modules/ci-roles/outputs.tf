output "plan_role_arn" {
  description = "ARN of the plan role (read-only; pull requests and the protected branch's scheduled runs)."
  value       = aws_iam_role.this["plan"].arn
}

output "apply_role_arn" {
  description = "ARN of the apply role (the protected branch, or only the deployment environment)."
  value       = aws_iam_role.this["apply"].arn
}

output "oidc_provider_arn" {
  description = "ARN of the OpenID Connect provider the roles trust."
  value       = local.provider_arn
}

output "subjects" {
  description = "The token subjects (`sub`) each role trusts, by role."
  value       = local.subjects
}
