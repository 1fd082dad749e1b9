variable "bucket" {
  description = "Globally unique name of the bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket))
    error_message = "bucket must be 3-63 lower-case letters, digits, dots or hyphens."
  }
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's server access logs; null for the log bucket itself."
  type        = string
  default     = null
}

variable "access_log_sources" {
  description = "Buckets allowed to deliver their server access logs into this one (set on the log bucket)."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Let a destroy delete the bucket with its objects (throw-away environments only)."
  type        = bool
  default     = false
}

variable "versioning" {
  description = "Keep every version of every object (recover from overwrites and deletes)."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted versions expire."
  type        = number
  default     = 90
}
