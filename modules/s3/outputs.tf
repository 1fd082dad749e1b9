output "id" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "log_target" {
  description = "Name of the bucket, known at plan time, whose readers wait for its bucket policy (which admits log delivery): what a bucket logging into it takes as access_log_bucket, so that only that bucket's logging waits for the policy."
  value       = var.bucket
  depends_on  = [aws_s3_bucket_policy.this]
}
