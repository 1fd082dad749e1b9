variable "name" {
  description = "Name of the cluster; prefixes its log group and roles."
  type        = string
}

variable "account_id" {
  description = "Account the cluster is in: the only one whose ECS tasks may assume its roles (aws:SourceAccount)."
  type        = string
}

variable "region" {
  description = "Region the cluster is in (the roles' aws:SourceArn)."
  type        = string
}

variable "container_insights" {
  description = "Turn on CloudWatch Container Insights for the cluster (costs extra; on in prod)."
  type        = bool
  default     = false
}

variable "repositories" {
  description = "ECR repositories of the services' images."
  type        = set(string)
}

variable "keep_images" {
  description = "How many of the newest images each repository keeps."
  type        = number
  default     = 30
}

variable "force_delete_repositories" {
  description = "Let a destroy delete the repositories with the images they hold (throw-away environments only)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the services' CloudWatch log group, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "execution_secret_arns" {
  description = "Secrets Manager ARNs the task execution role may read to inject into containers (exactly these)."
  type        = list(string)

  validation {
    condition     = length(var.execution_secret_arns) > 0
    error_message = "execution_secret_arns is empty: IAM rejects a policy statement without resources."
  }
}

variable "task_role_policies" {
  description = "Task roles to create: role key => IAM policy document (JSON) of what that service's code may do."
  type        = map(string)
}
