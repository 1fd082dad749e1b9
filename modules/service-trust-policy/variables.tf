variable "service" {
  description = "The service principal that assumes the role, e.g. ecs-tasks.amazonaws.com."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+(\\.[a-z0-9-]+)*\\.amazonaws\\.com$", var.service))
    error_message = "service must be an AWS service principal such as ecs-tasks.amazonaws.com."
  }
}

variable "account_id" {
  description = "The only account the service may act for (aws:SourceAccount)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "source_arns" {
  description = "The resources the service may act for (aws:SourceArn), in this account; empty: the service does not document the source ARN it sets for this role, so only aws:SourceAccount is set."
  type        = list(string)
  default     = []

  # The source ARN names the account too: another account's would reopen the guard.
  validation {
    condition     = alltrue([for arn in var.source_arns : can(regex("^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:${var.account_id}:.+$", arn))])
    error_message = "source_arns must be ARNs (or ArnLike patterns) in account_id, e.g. arn:aws:ecs:eu-west-2:111122223333:*."
  }
}

variable "source_arn_test" {
  description = "The condition operator of aws:SourceArn: ArnLike for a pattern, ArnEquals for exact ARNs."
  type        = string
  default     = "ArnLike"

  validation {
    condition     = contains(["ArnLike", "ArnEquals"], var.source_arn_test)
    error_message = "source_arn_test must be ArnLike or ArnEquals."
  }
}
