variable "name_prefix" {
  description = "Prefix of the roles' and policies' names (`<project>-<env>`): the roles are `<prefix>-ci-plan` and `<prefix>-ci-apply`."
  type        = string
}

variable "account_id" {
  description = "The environment's account id (the OpenID Connect provider's ARN is built from it)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "repository" {
  description = "The repository whose workflows may assume the roles, as `OWNER/REPO` (the `sub` claim's `repo:` part)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.repository))
    error_message = "repository must be OWNER/REPO."
  }
}

variable "oidc_url" {
  description = "Issuer URL of the CI system's OpenID Connect provider (the tokens' `iss`)."
  type        = string
  default     = "https://token.actions.githubusercontent.com"

  validation {
    condition     = can(regex("^https://[^/?#:]+(/[^?#]*)?$", var.oidc_url))
    error_message = "oidc_url must be an https:// URL without a port or query."
  }
}

variable "oidc_audience" {
  description = "Audience the tokens carry (`aud`); GitHub Actions' default for AWS is sts.amazonaws.com."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "oidc_provider_arn" {
  description = "ARN of an OpenID Connect provider for oidc_url that already exists in the account (an account holds one per URL); null: the module creates it."
  type        = string
  default     = null
}

variable "branch" {
  description = "The protected branch: a run on it may assume the apply role (unless apply_environment is set) and the plan role (the scheduled drift checks)."
  type        = string
  default     = "main"
}

variable "apply_environment" {
  description = "The CI deployment environment (with required reviewers) whose jobs alone may assume the apply role; null: runs on the protected branch may."
  type        = string
  default     = null
}

variable "policies" {
  description = "Identity policy documents (JSON) by name: each becomes managed policies `<prefix>-ci-<name>-<n>` of at most statements_per_policy statements."
  type        = map(string)
}

variable "plan_policies" {
  description = "Names of `policies` attached to the plan role."
  type        = list(string)
}

variable "apply_policies" {
  description = "Names of `policies` attached to the apply role."
  type        = list(string)
}

variable "state_role_arns" {
  description = "The state account's roles each role may assume (`plan`, `apply`): Terraform's backend and the tool reach the state through them."
  type = object({
    plan  = string
    apply = string
  })
}

variable "max_session_duration" {
  description = "Longest session of either role, in seconds (an apply of the whole stack takes minutes)."
  type        = number
  default     = 3600
}

variable "statements_per_policy" {
  description = "Statements per managed policy when a document of `policies` is split (IAM allows 6,144 characters per managed policy)."
  type        = number
  default     = 12
}
