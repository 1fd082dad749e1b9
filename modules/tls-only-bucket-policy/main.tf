# The bucket policy statement every bucket of this project carries: deny any request that does not
# use TLS. One document, used by modules/s3 (merged with a bucket's own statements) and by tf-init
# (the state bucket, which cannot use modules/s3: it needs a literal prevent_destroy and keeps every
# state version).
data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [var.bucket_arn, "${var.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
