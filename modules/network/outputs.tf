output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in AZ order."
  value       = [for az in var.azs : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, in AZ order."
  value       = [for az in var.azs : aws_subnet.private[az].id]
}

output "database_subnet_ids" {
  description = "IDs of the database subnets, in AZ order."
  value       = [for az in var.azs : aws_subnet.database[az].id]
}

output "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets."
  value       = [for az in var.azs : aws_subnet.private[az].cidr_block]
}

output "database_subnet_cidrs" {
  description = "CIDR blocks of the database subnets."
  value       = [for az in var.azs : aws_subnet.database[az].cidr_block]
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways (the addresses third parties see from the services)."
  value       = [for az in local.nat_azs : aws_eip.nat[az].public_ip]
}

output "db_subnet_group_name" {
  description = "Name of the DB subnet group over the database subnets."
  value       = aws_db_subnet_group.this.name
}

output "flow_log_group_name" {
  description = "CloudWatch log group of the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "network_acl_ids" {
  description = "IDs of the network ACLs by tier."
  value       = { for tier, acl in aws_network_acl.this : tier => acl.id }
}
