terraform {
  # 1.11: write-only arguments, ephemeral resources, and S3-native state locking (use_lockfile;
  # older versions accept the flag and lock nothing).
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Filled from environments/<name>/backend.hcl by `inv` (the master account's state bucket).
  backend "s3" {}
}
