variable "roles" {
  description = "The state roles by name: the one environment role (`trusted_role_arn`, in the environment's account) that may assume each, and its identity policy (JSON)."
  type = map(object({
    trusted_role_arn = string
    policy           = string
  }))

  validation {
    condition     = alltrue([for role in values(var.roles) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", role.trusted_role_arn))])
    error_message = "each trusted_role_arn must be an IAM role ARN."
  }
}

variable "max_session_duration" {
  description = "Longest session of a state role, in seconds. A chained role session (assumed by another role's session) lasts at most one hour whatever this says."
  type        = number
  default     = 3600
}
