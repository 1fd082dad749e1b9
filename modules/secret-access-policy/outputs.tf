output "json" {
  description = "The secret's resource policy (JSON), as put on the secret."
  value       = data.aws_iam_policy_document.this.json
}
