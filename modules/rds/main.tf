locals {
  # Letters, digits and single hyphens, starting with a letter: what RDS accepts as a snapshot name.
  final_snapshot_identifier = "${var.identifier}-final-${terraform_data.final_snapshot_suffix.input}"

  # Refused as the master user (var.username): the names scanners flag as defaults (Prowler's
  # rds_instance_default_admin); the role names PostgreSQL refuses (public, none) and its reserved
  # key words (its documentation's appendix "SQL Key Words", reserved in PostgreSQL).
  default_usernames = ["postgres", "admin"]
  reserved_words = [
    "public", "none",
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case",
    "cast", "check", "collate", "column", "constraint", "create", "current_catalog", "current_date",
    "current_role", "current_time", "current_timestamp", "current_user", "default", "deferrable",
    "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "from",
    "grant", "group", "having", "in", "initially", "intersect", "into", "lateral", "leading", "limit",
    "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order", "placing",
    "primary", "references", "returning", "select", "session_user", "some", "symmetric",
    "system_user", "table", "then", "to", "trailing", "true", "union", "unique", "user", "using",
    "variadic", "when", "where", "window", "with",
  ]
}

# A generated name and create_before_destroy: a replacement creates the new group and moves the
# instance onto it (RDS applies a security group change at once, whatever apply_immediately says)
# before the old group is deleted.
resource "aws_security_group" "this" {
  name_prefix = "${var.identifier}-db-"
  description = "Database ${var.identifier}: Postgres from the services only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.identifier}-db" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each = var.allowed_security_group_ids

  security_group_id            = aws_security_group.this.id
  description                  = "Postgres from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value

  # With the group replaced, the new group gets its rules before the old one loses them.
  lifecycle {
    create_before_destroy = true
  }
}

# AWS refuses a snapshot name that exists (DBSnapshotAlreadyExists), so a fixed final snapshot
# name fails the destroy of a re-created environment. The suffix is the time of the plan that
# created this database, kept in state (ignore_changes: later plans change nothing); a new
# instance (another identifier, database name or user: the inputs of this module that replace it)
# gets a new one. A change in this file that replaces the instance otherwise (engine, encryption,
# a KMS key) must add its value here too, or the new instance would reuse the old name.
resource "terraform_data" "final_snapshot_suffix" {
  input            = formatdate("YYYYMMDDhhmmss", plantimestamp())
  triggers_replace = [var.identifier, var.database_name, var.username]

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:multi_az is an input, on in prod (environments/prod); dev and local run one instance
  #checkov:skip=CKV_AWS_353:Performance Insights is unavailable on the micro/small classes used; enable with a larger class
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs a monitoring role and costs per instance; CloudWatch metrics suffice at this size
  #checkov:skip=CKV2_AWS_30:statement logging would write SQL with personal data to logs; the postgresql log is exported
  identifier     = var.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  allocated_storage = var.allocated_storage
  storage_type      = "gp3"
  storage_encrypted = true

  db_name  = var.database_name
  username = var.username
  # Write-only: Terraform sends it to RDS and keeps no copy in state or in plans.
  password_wo         = var.password
  password_wo_version = var.password_version

  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  multi_az               = var.multi_az

  backup_retention_period   = var.backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : local.final_snapshot_identifier

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
}

# The instance's events, to the alarm topic: failures, failovers, low storage, maintenance,
# configuration changes, restarts... No event_categories means every category: Prowler's
# rds_instance_critical_event_subscription passes only on all of them or on exactly maintenance,
# configuration change and failure, which would leave out low storage, availability and failover.
# The price: the automated backup's start and end (category backup) arrive too, once a day.
resource "aws_db_event_subscription" "this" {
  name        = "${var.identifier}-events"
  sns_topic   = var.event_topic_arn
  source_type = "db-instance"
  source_ids  = [aws_db_instance.this.identifier]
  enabled     = true
}
