output "identifier" {
  description = "Identifier of the database instance (what its snapshots are taken of)."
  value       = aws_db_instance.this.identifier
}

output "address" {
  description = "Host name of the database."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "endpoint" {
  description = "host:port of the database."
  value       = aws_db_instance.this.endpoint
}

output "database_name" {
  description = "Name of the application database."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "Master user name."
  value       = aws_db_instance.this.username
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.this.id
}

output "final_snapshot_identifier" {
  description = "Name of the snapshot RDS takes when the instance is deleted (null when skip_final_snapshot)."
  value       = aws_db_instance.this.final_snapshot_identifier
}
