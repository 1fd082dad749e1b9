variable "name" {
  description = "Name of the job's resources: its task definition family, schedule, dead-letter queue, security group and roles (the roles' names add -task and -scheduler)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,44}$", var.name))
    error_message = "name is lowercase letters, digits and '-', at most 45 characters (IAM role names end in -scheduler within 64)."
  }
}

variable "description" {
  description = "What the job does (the schedule's description)."
  type        = string
}

variable "account_id" {
  description = "Account the job runs in (the trust policies' aws:SourceAccount and the ARNs built from names)."
  type        = string
}

variable "region" {
  description = "Region the job runs in (ARNs built from names)."
  type        = string
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression: cron(...) with six fields, rate(...) or at(...); stackops/jobs validates it fully before any plan."
  type        = string

  # The backstop: the shape only (the tool checks every field before a plan).
  validation {
    condition     = can(regex("^(cron\\(\\S+( \\S+){5}\\)|rate\\([1-9][0-9]* (minute|hour|day)s?\\)|at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\))$", var.schedule_expression))
    error_message = "schedule_expression must be cron(six fields), rate(VALUE UNIT) or at(yyyy-mm-ddThh:mm:ss)."
  }
}

variable "schedule_timezone" {
  description = "IANA time zone the expression is read in."
  type        = string
  default     = "UTC"
}

variable "cluster_arn" {
  description = "ECS cluster the job runs on (the batch cluster)."
  type        = string
}

variable "container_definitions" {
  description = "Container definitions JSON, rendered by the root from task-definitions/job.json."
  type        = string
}

variable "image" {
  description = "The image the container definitions run, recorded on each revision Terraform registers (tag stackops:image)."
  type        = string
}

variable "cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU)."
  type        = number
}

variable "memory" {
  description = "Fargate task memory in MiB; must suit the CPU size."
  type        = number

  validation {
    condition = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu) && (
      var.cpu == 256 ? contains([512, 1024, 2048], var.memory) :
      var.cpu <= 4096 ? (var.memory >= 2 * var.cpu && var.memory <= min(8 * var.cpu, 30720) && var.memory % 1024 == 0) :
      var.cpu == 8192 ? (var.memory >= 16384 && var.memory <= 61440 && var.memory % 4096 == 0) :
      (var.memory >= 32768 && var.memory <= 122880 && var.memory % 8192 == 0)
    )
    error_message = "cpu and memory must be a Fargate task size (256 with 512-2048 MiB, 512 with 1024-4096, ...)."
  }
}

variable "execution_role_arn" {
  description = "Role ECS uses to pull the image, write logs and inject the job's secrets (the stack's shared execution role)."
  type        = string
}

variable "task_role_policy" {
  description = "IAM policy document (JSON) of what the job's code may do through AWS APIs; null: none (a job that only reaches the database needs none)."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC the job's security group is in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the job's tasks run in (they get no public IP)."
  type        = list(string)
}

variable "egress_rules" {
  description = "Outbound traffic the job needs: name => {port, cidr}."
  type        = map(object({ port = number, cidr = string }))
}

variable "maximum_retry_attempts" {
  description = "How often Scheduler retries a run it could not start (RunTask refused or throttled) before sending it to the dead-letter queue."
  type        = number
  default     = 3

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 185
    error_message = "maximum_retry_attempts is 0-185 (Scheduler's range)."
  }
}

variable "maximum_event_age_seconds" {
  description = "How long Scheduler keeps retrying a run that could not start, in seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_event_age_seconds >= 60 && var.maximum_event_age_seconds <= 86400
    error_message = "maximum_event_age_seconds is 60-86400 (Scheduler's range)."
  }
}

variable "dead_letter_retention_seconds" {
  description = "How long the dead-letter queue keeps a run that could not start, in seconds."
  type        = number
  default     = 1209600 # 14 days, SQS's most
}
