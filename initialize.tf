# Every input of the stack. environments/<name>/variables.tfvars sets them per environment.

# -- identity and accounts ------------------------------------------------------------------------

variable "project" {
  description = "Project name: prefixes resource names, SSM parameters and secrets (/<project>/<stage>/...)."
  type        = string
  default     = "exii"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 lower-case letters, digits or hyphens."
  }
}

variable "stage" {
  description = "Environment name (dev, prod, local); also the Terraform workspace."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.stage))
    error_message = "stage must be 2-16 lower-case letters, digits or hyphens."
  }
}

variable "region" {
  description = "AWS region of the environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-2."
  }
}

variable "profile" {
  description = "AWS CLI profile of the environment's account (exiidev, exiiprod); null for the default credential chain."
  type        = string
  default     = null
}

variable "account_id" {
  description = "The environment's AWS account id. The provider refuses to touch any other account."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "master_profile" {
  description = "AWS CLI profile of the master account that holds the state (read by the tooling, not by Terraform); null for the default credential chain, or the backend's profile/assume_role."
  type        = string
  default     = null
}

variable "master_account_id" {
  description = "Account id of the master account that holds the state (checked by the tooling's account guard)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.master_account_id))
    error_message = "master_account_id must be 12 digits."
  }
}

variable "emulated" {
  description = "True for the embedded emulated AWS: the tooling points boto3 and Terraform at it through environment variables. The HCL does not branch on it."
  type        = bool
  default     = false
}

variable "s3_use_path_style" {
  description = "Address S3 path-style (needed by the emulated AWS; false for real accounts)."
  type        = bool
  default     = false
}

# -- DNS and certificates ---------------------------------------------------------------------------

variable "zone_name" {
  description = "Route53 hosted zone of the environment, created here (for example exii.example.com)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.zone_name))
    error_message = "zone_name must be a lower-case DNS name without a trailing dot."
  }
}

variable "frontend_prefix" {
  description = "Host prefix of the frontend (concept): <prefix>.<zone_name>."
  type        = string
}

variable "backend_prefix" {
  description = "Host prefix of the backend API (django): <prefix>.<zone_name>."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listeners. Leave null: `inv cert` issues one and publishes its ARN in SSM (/<project>/<stage>/acm/certificate-arn), which is read from there."
  type        = string
  default     = null
}

variable "cert_renewer_package" {
  description = "The renewal function's package, from the root: `inv` builds it before every plan and passes its path (stackops/certs/package.py renewer_package)."
  type        = string
}

variable "acme_profile" {
  description = "ACME profile the certificates are requested with (Let's Encrypt: classic, tlsserver, shortlived); null: the CA's default."
  type        = string
  default     = null
  validation {
    condition     = var.acme_profile == null || contains(["classic", "tlsserver", "shortlived"], coalesce(var.acme_profile, "-"))
    error_message = "acme_profile must be classic, tlsserver or shortlived (or left out)."
  }
}

variable "acme_staging" {
  description = "Renew with Let's Encrypt's staging server (untrusted certificates, for trying the renewal out)."
  type        = bool
  default     = false
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the environment's alarm topic (<project>-<stage>-alarms): the services', the database's and the certificate renewal's alarms."
  type        = list(string)
  default     = []
}

variable "alarm_thresholds" {
  description = "When the services' and the database's alarms fire (alarms.tf, modules/alarms); set only what differs from the defaults. fast_*: the 1-minute deployment alarms (5xx rate, unhealthy hosts); evaluation_periods: the 5-minute alarms."
  type = object({
    target_5xx_percent        = optional(number, 5)  # share of requests the targets answer 5xx, percent
    unhealthy_hosts           = optional(number, 0)  # alarm when more targets than this are unhealthy
    response_time_p95_seconds = optional(number, 2)  # TargetResponseTime p95
    service_cpu_percent       = optional(number, 85) # ECS service average CPU
    service_memory_percent    = optional(number, 85) # ECS service average memory
    db_cpu_percent            = optional(number, 80) # RDS average CPU
    db_free_storage_gib       = optional(number, 2)  # RDS free storage, GiB
    db_connections            = optional(number, 80) # RDS connections (db.t4g.micro allows about 110)
    fast_evaluation_periods   = optional(number, 3)  # minutes looked at by the deployment alarms
    fast_datapoints_to_alarm  = optional(number, 2)  # of which breaching
    evaluation_periods        = optional(number, 3)  # 5-minute periods, all breaching
  })
  default = {}

  validation {
    condition     = var.alarm_thresholds.fast_datapoints_to_alarm <= var.alarm_thresholds.fast_evaluation_periods
    error_message = "alarm_thresholds.fast_datapoints_to_alarm cannot exceed fast_evaluation_periods."
  }
}

variable "certificate_alarm_days" {
  description = "Alarm when the environment's certificate has fewer days left than this (lower it for shortlived certificates)."
  type        = number
  default     = 10
}

# -- network ----------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "Availability zones of the environment, one subnet per tier in each."
  type        = list(string)
}

variable "public_subnets" {
  description = "Public subnet CIDRs (load balancers, NAT), one per AZ."
  type        = list(string)
}

variable "private_subnets" {
  description = "Private subnet CIDRs (Fargate tasks), one per AZ."
  type        = list(string)
}

variable "database_subnets" {
  description = "Database subnet CIDRs (RDS), one per AZ."
  type        = list(string)
}

variable "nat_mode" {
  description = "NAT gateways: none, single, or per_az (prod: survives the loss of an AZ)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["none", "single", "per_az"], var.nat_mode)
    error_message = "nat_mode must be one of none, single, per_az."
  }
}

# -- services ---------------------------------------------------------------------------------------

variable "image_tag" {
  description = "Image tag of a service's first revision, before anything runs (afterwards a revision Terraform registers keeps the image the service runs)."
  type        = string
  default     = "latest"
}

variable "running_images" {
  description = "Image each service runs now, by service: read from ECS by `inv plan`/`inv apply` at plan time (never set it by hand). A revision Terraform registers keeps it; a service missing here starts from image_tag."
  type        = map(string)
  default     = {}
}

variable "extra_environment" {
  description = "Plain (not secret) settings added to a service's containers: service => {NAME = value}; they win over the stack's own settings of the same name."
  type        = map(map(string))
  default     = {}

  validation {
    condition     = alltrue([for service in keys(var.extra_environment) : contains(keys(local.services), service)])
    error_message = "extra_environment keys must be service names (local.services: concept, django)."
  }
}

variable "service_sizes" {
  description = "Fargate CPU units and memory (MiB) per service."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    concept = { cpu = 256, memory = 512 }
    django  = { cpu = 512, memory = 1024 }
    migrate = { cpu = 256, memory = 512 }
  }
}

variable "service_min_count" {
  description = "Fewest tasks of each service (autoscaling floor)."
  type        = number
  default     = 1
}

variable "service_max_count" {
  description = "Most tasks of each service (autoscaling ceiling)."
  type        = number
  default     = 2

  validation {
    condition     = var.service_max_count >= 1
    error_message = "service_max_count must be at least 1."
  }
}

variable "container_insights" {
  description = "CloudWatch Container Insights on the clusters."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days the services' logs are kept."
  type        = number
  default     = 30
}

variable "ecr_keep_images" {
  description = "Images kept per ECR repository; older ones expire."
  type        = number
  default     = 30
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancers (on in prod)."
  type        = bool
  default     = false
}

variable "batch_repositories" {
  description = "ECR repositories of the backend's batch jobs (run on the batch cluster)."
  type        = set(string)
  default     = ["engine", "reports"]
}

variable "queues" {
  description = "SQS queues the backend uses: settings key => queue suffix (the queue is <project>-<stage>-<suffix>)."
  type        = map(string)
  default = {
    SQS_STRIPE_QUEUE             = "stripe"
    SQS_XERO_QUEUE               = "xero"
    SQS_GOOGLE_ANALYTICS_QUEUE   = "google-analytics"
    SQS_GOOGLE_ADS_QUEUE         = "google-ads"
    SQS_FACEBOOK_QUEUE           = "facebook"
    SQS_SHOPIFY_ONBOARDING_QUEUE = "shopify-onboarding"
    SQS_ENGINE_QUEUE             = "engine"
  }
}

variable "buckets" {
  description = "Application buckets by purpose; each is <project>-<stage>-<purpose>-<account_id>. A log bucket, the target of the others' access logs, always exists."
  type        = set(string)
  default     = ["log", "staging", "trigger", "input", "model", "report"]
}

variable "force_destroy_buckets" {
  description = "Let `inv destroy` delete buckets that still hold objects (access logs, uploads). Only for throw-away environments such as local; never prod."
  type        = bool
  default     = false

  validation {
    condition     = !(var.force_destroy_buckets && var.stage == "prod")
    error_message = "force_destroy_buckets must stay false in prod: its buckets hold the product's data."
  }
}

variable "force_delete_repositories" {
  description = "Let `inv destroy` delete ECR repositories that still hold images (the pipelines can push them again). For dev and local; never prod."
  type        = bool
  default     = false

  validation {
    condition     = !(var.force_delete_repositories && var.stage == "prod")
    error_message = "force_delete_repositories must stay false in prod: its images are what the services and rollbacks run."
  }
}

# -- database ---------------------------------------------------------------------------------------

variable "db_name" {
  description = "Name of the application database."
  type        = string
  default     = "app"
}

variable "db_username" {
  description = "Master user of the database; changing it replaces the instance. Not the engine's default `postgres` (nor `admin` or a reserved word): modules/rds refuses those."
  type        = string
  default     = "exii_admin"
}

variable "db_password_version" {
  description = "Bump after changing the db-password secret to send the new password to RDS."
  type        = number
  default     = 1
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_allocated_storage" {
  description = "RDS storage in GiB."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Standby database in a second AZ (prod)."
  type        = bool
  default     = false
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (prod)."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Delete the database without a final snapshot (throw-away environments only)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
  default     = 7
}

variable "db_snapshot_keep" {
  description = "How many of its own manual snapshots (taken before each migration) the tool keeps; older ones it made are deleted, never automated or other snapshots."
  type        = number
  default     = 10

  validation {
    condition     = var.db_snapshot_keep >= 1 && floor(var.db_snapshot_keep) == var.db_snapshot_keep
    error_message = "db_snapshot_keep must be a whole number of at least 1: the snapshot just taken is always kept."
  }
}

# -- secrets (secrets.tf) -------------------------------------------------------------------------

variable "secret_administrators" {
  description = "IAM role (or user) ARNs of this account that read or manage the secrets besides the stack's own roles: whoever runs `inv secrets`, and whoever runs Terraform by hand (a plan reads each secret's metadata and policy, and the database password). Each secret's resource policy denies every other principal, the root user included."
  type        = list(string)

  validation {
    condition     = length(var.secret_administrators) > 0 && alltrue([for arn in var.secret_administrators : can(regex("^arn:aws[a-z-]*:iam::${var.account_id}:(role|user)/[^*?]+$", arn))])
    error_message = "secret_administrators needs at least one IAM role or user ARN of account_id (arn:aws:iam::<account_id>:role/<name>), without wildcards: a policy no one may change would lock the secrets for good."
  }
}

# -- CI (ci.tf) ---------------------------------------------------------------------------------

variable "ci_repository" {
  description = "The repository (OWNER/REPO) whose CI workflows may assume this environment's CI roles; null: no CI roles."
  type        = string
  default     = null
}

variable "ci_apply_environment" {
  description = "The CI deployment environment (with required reviewers) whose jobs alone may assume the apply role (prod: \"prod\"); null: runs on the protected branch may."
  type        = string
  default     = null
}

variable "ci_branch" {
  description = "The repository's protected branch (pull requests merge into it; its runs apply dev)."
  type        = string
  default     = "main"
}

variable "ci_oidc_url" {
  description = "Issuer URL of the CI system's OpenID Connect provider."
  type        = string
  default     = "https://token.actions.githubusercontent.com"
}

variable "ci_oidc_audience" {
  description = "Audience of the CI system's tokens (GitHub Actions: sts.amazonaws.com)."
  type        = string
  default     = "sts.amazonaws.com"
}
