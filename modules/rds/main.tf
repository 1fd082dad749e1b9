resource "aws_security_group" "this" {
  name        = "${var.identifier}-db"
  description = "Database ${var.identifier}: Postgres from the services only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.identifier}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each = var.allowed_security_group_ids

  security_group_id            = aws_security_group.this.id
  description                  = "Postgres from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
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
  final_snapshot_identifier = var.skip_final_snapshot ? null : "${var.identifier}-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
}
