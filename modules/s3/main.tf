data "aws_partition" "current" {}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:access logs go to the environment's log bucket (access_log_bucket); the log bucket itself is that target
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) by design: no customer key to manage; access is controlled by IAM and the bucket policy
  #checkov:skip=CKV_AWS_144:single-region product; versioning and noncurrent-version retention cover recovery
  #checkov:skip=CKV2_AWS_62:no consumer of bucket events; the trigger bucket's readers poll through SQS settings
  bucket = var.bucket
  # A bucket that still holds objects is not deleted, unless the environment is a throw-away one.
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket}/"
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = var.versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

module "tls_only" {
  source = "../tls-only-bucket-policy"

  bucket_arn = aws_s3_bucket.this.arn
}

data "aws_iam_policy_document" "this" {
  # Every request without TLS is denied (the shared statement), whatever else the bucket allows.
  source_policy_documents = [module.tls_only.json]

  # A log bucket admits S3 server access log delivery from the named buckets only (with
  # BucketOwnerEnforced, a bucket policy is the only way to let the logging service write).
  dynamic "statement" {
    for_each = length(var.access_log_sources) > 0 ? [1] : []
    content {
      sid       = "AllowAccessLogDelivery"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]

      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [for name in var.access_log_sources : "arn:${data.aws_partition.current.partition}:s3:::${name}"]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  # A policy is rejected while the public access block is being changed.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
