variable "secret_arn" {
  description = "ARN of the secret the policy protects."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.secret_arn))
    error_message = "secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "administrators" {
  description = "IAM role (or user) ARNs the policy does not restrict: whoever runs `inv secrets` and Terraform. Their own IAM policies decide what they may do."
  type        = list(string)

  # Exact ARNs: aws:PrincipalArn is compared with StringNotEquals, and a policy no one may change
  # would lock the secret for good (the root user is denied too).
  validation {
    condition     = length(var.administrators) > 0 && alltrue([for arn in var.administrators : can(regex("^arn:[a-z-]+:iam::[0-9]{12}:(role|user)/[^*?]+$", arn))])
    error_message = "administrators needs at least one IAM role or user ARN (arn:aws:iam::<account>:role/<name>), without wildcards."
  }
}

variable "roles" {
  description = "The stack's roles that use the secret: a key (letters and digits, the statement's Sid) => the role's ARN and the only Secrets Manager actions it may take on the secret."
  type = map(object({
    arn     = string
    actions = list(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for key in keys(var.roles) : can(regex("^[A-Za-z0-9]+$", key))])
    error_message = "roles: each key is letters and digits only (it starts the statement's Sid)."
  }

  validation {
    condition     = alltrue([for role in values(var.roles) : can(regex("^arn:[a-z-]+:iam::[0-9]{12}:role/[^*?]+$", role.arn))])
    error_message = "roles: each arn is an IAM role ARN without wildcards."
  }

  validation {
    condition     = alltrue([for role in values(var.roles) : length(role.actions) > 0 && alltrue([for action in role.actions : can(regex("^secretsmanager:[A-Za-z]+$", action))])])
    error_message = "roles: each role names at least one secretsmanager: action, without wildcards."
  }
}
