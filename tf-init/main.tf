# The state backend in the master account: created once by `inv bootstrap`, which keeps this
# root's own state under .state/ and rebuilds it by import when it is missing (a new laptop, a
# CI runner), so nothing about the backend lives only on one machine.

provider "aws" {
  region              = var.region
  profile             = var.profile
  allowed_account_ids = [var.account_id]
  s3_use_path_style   = var.s3_use_path_style

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "stackops-bootstrap"
    }
  }

  default_tags {
    tags = {
      Project   = "exii"
      Purpose   = "terraform-state"
      ManagedBy = "terraform"
    }
  }
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:state access is audited by CloudTrail; access logs would need a second bucket in the master account
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256): only the three accounts' roles reach it; no customer key to lose
  #checkov:skip=CKV_AWS_144:versioning keeps every state version; cross-region replication is not worth a second region here
  #checkov:skip=CKV2_AWS_62:no consumer of state bucket events
  #checkov:skip=CKV2_AWS_61:every state version is kept on purpose (no lifecycle expiry)
  bucket = var.bucket

  # Losing the state bucket means losing track of every environment.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Deny every request without TLS: the statement every bucket of this project carries.
module "tls_only" {
  source = "../modules/tls-only-bucket-policy"

  bucket_arn = aws_s3_bucket.state.arn
}

resource "aws_s3_bucket_policy" "state" {
  bucket     = aws_s3_bucket.state.id
  policy     = module.tls_only.json
  depends_on = [aws_s3_bucket_public_access_block.state]
}

resource "aws_dynamodb_table" "locks" {
  #checkov:skip=CKV_AWS_119:the table holds lock ids and state digests only; AWS-owned encryption is on
  name         = var.lock_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  lifecycle {
    prevent_destroy = true
  }
}
