variable "region" {
  description = "Region of the state bucket and lock table."
  type        = string
}

variable "profile" {
  description = "AWS CLI profile of the master account (exiimaster); null for the default credential chain."
  type        = string
  default     = null
}

variable "assume_role_arn" {
  description = "Role in the master account to assume from the profile's (or the default chain's) credentials: backend.hcl's assume_role.role_arn; null for none."
  type        = string
  default     = null
}

variable "account_id" {
  description = "Account id of the master account; the provider refuses any other."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "bucket" {
  description = "Name of the state bucket (the `bucket` of environments/*/backend.hcl)."
  type        = string
}

variable "lock_table" {
  description = "Name of the DynamoDB lock table (the `dynamodb_table` of environments/*/backend.hcl)."
  type        = string
}

variable "s3_use_path_style" {
  description = "Address S3 path-style (the emulated AWS needs it)."
  type        = bool
  default     = false
}
