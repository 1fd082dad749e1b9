variable "identifier" {
  description = "Identifier of the database instance."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "db_subnet_group_name" {
  description = "DB subnet group over the database subnets."
  type        = string
}

variable "allowed_security_group_ids" {
  description = "Security groups admitted on 5432, by a static key (the services)."
  type        = map(string)
}

variable "engine_version" {
  description = "Postgres major version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "Instance class of the database."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage" {
  description = "Storage in GiB."
  type        = number
  default     = 20
}

variable "database_name" {
  description = "Name of the database the application uses."
  type        = string
  default     = "app"
}

variable "username" {
  description = "Master user name: not the engine's default `postgres` (nor `admin`), which scanners and attackers try first. Changing it replaces the instance."
  type        = string
  default     = "exii_admin"

  # RDS's rules for a master user name (CreateDBInstance, MasterUsername): 1 to 16 letters, digits
  # or underscores, starting with a letter.
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,15}$", var.username))
    error_message = "username must be 1 to 16 letters, digits or underscores, starting with a letter (RDS's rule for a master user)."
  }

  # ...and not a default nor a word the engine reserves (main.tf, locals): PostgreSQL's reserved
  # key words, the role names it refuses (public, none, pg_*), RDS's own roles (rdsadmin, rds_*).
  validation {
    condition = !(
      contains(local.default_usernames, lower(var.username)) ||
      contains(local.reserved_words, lower(var.username)) ||
      startswith(lower(var.username), "pg_") ||
      startswith(lower(var.username), "rds")
    )
    error_message = "username must not be the engine's default (postgres, admin), a PostgreSQL reserved word, or a name PostgreSQL or RDS reserve (public, none, pg_*, rds*)."
  }
}

variable "password" {
  description = "Master password, passed only to the write-only argument so it never enters state or plans."
  type        = string
  ephemeral   = true
  sensitive   = true
}

variable "password_version" {
  description = "Bump to send a new master password to RDS (write-only arguments are sent only when this changes)."
  type        = number
  default     = 1
}

variable "multi_az" {
  description = "Run a standby in a second AZ (on in prod)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (on in prod)."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (only for throw-away environments)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups kept."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35 (0 would turn backups off)."
  }
}

variable "event_topic_arn" {
  description = "SNS topic that receives the instance's RDS events (the environment's alarm topic); its policy must let events.rds.amazonaws.com publish for this instance."
  type        = string
}
