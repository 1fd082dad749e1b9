output "json" {
  description = "The policy document (JSON) with the one DenyInsecureTransport statement; merge it with source_policy_documents."
  value       = data.aws_iam_policy_document.this.json
}
