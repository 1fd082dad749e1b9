variable "name" {
  description = "Name of the function, its role, log group, schedule and alarms (e.g. exii-dev-cert-renewer)."
  type        = string
}

variable "environment_name" {
  description = "The environment the function renews for (the DaysRemaining metric's Environment dimension)."
  type        = string
}

variable "account_id" {
  description = "The environment's account: the ARNs the role's policy names are built in it, so a plan shows them whole."
  type        = string
}

variable "region" {
  description = "Region of the certificates, parameters and function."
  type        = string
}

variable "package_path" {
  description = "The deployment package (.zip) `inv` builds from pinned wheels (stackops/certs/package.py)."
  type        = string
}

variable "package_hash" {
  description = "Base64 SHA-256 of the package (filebase64sha256): a new hash deploys new code, the same hash plans nothing."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime of the function; the package is built for this Python version."
  type        = string
  default     = "python3.13"
}

variable "handler" {
  description = "The function's entry point in the package."
  type        = string
  default     = "stackops.certs.renewer.handler"
}

variable "environment" {
  description = "Settings of the function (the environment it renews for, the ACME server and profile), as environment variables."
  type        = map(string)
}

variable "zone_id" {
  description = "The hosted zone whose _acme-challenge TXT records the function may write (and only those)."
  type        = string
}

variable "certificate_parameter_path" {
  description = "SSM path of the certificate-ARN parameters the function may read and rewrite (e.g. /exii/dev/acm)."
  type        = string
}

variable "managed_tags" {
  description = "Tags every certificate the function may touch carries (the tool tags what it imports)."
  type        = map(string)
}

variable "environment_tag" {
  description = "The key of managed_tags naming the environment (a re-tag may not change its value)."
  type        = string
  default     = "stackops:environment"
}

variable "metric_namespace" {
  description = "CloudWatch namespace the function publishes DaysRemaining in (the only one it may write)."
  type        = string
  default     = "Stackops/Certificates"
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the daily run (UTC)."
  type        = string
  default     = "cron(17 3 * * ? *)"
}

variable "timeout" {
  description = "Seconds one run may take: certbot waits for Route53 to be in sync and for the CA to validate."
  type        = number
  default     = 600
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 512
}

variable "log_retention_days" {
  description = "Days the function's log group keeps its logs."
  type        = number
  default     = 90
}

variable "alarm_topic_arn" {
  description = "SNS topic the renewal alarms notify (the environment's alarm topic, alarms.tf at the root)."
  type        = string
}

variable "days_remaining_threshold" {
  description = "The certificate alarm fires when the environment's certificate has fewer days left than this (or nothing reported for two days)."
  type        = number
  default     = 10
}

variable "account_key_secret_name" {
  description = "Name of the Secrets Manager secret that keeps certbot's ACME account between runs."
  type        = string
}

variable "secret_recovery_days" {
  description = "Recovery window of the ACME account key secret when it is deleted (0: at once, for throw-away environments)."
  type        = number
  default     = 30
}
