variable "bucket_arn" {
  description = "ARN of the bucket the policy protects (the statement covers the bucket and every object in it)."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN, e.g. arn:aws:s3:::my-bucket."
  }
}
