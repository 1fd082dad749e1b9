variable "name" {
  description = "Name prefix for every network resource (for example exii-dev)."
  type        = string
}

variable "account_id" {
  description = "Account the VPC is in: the only one whose flow logs may assume the flow-logs role (aws:SourceAccount)."
  type        = string
}

variable "region" {
  description = "Region the VPC is in (the flow-logs role's aws:SourceArn)."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0))
    error_message = "cidr must be an IPv4 CIDR block such as 10.0.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones, one subnet of each tier per zone, in this order."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2
    error_message = "At least two availability zones are needed (load balancers and DB subnet groups require two)."
  }

  # Resources are keyed by AZ: a repeated AZ would silently lose its second subnet of each tier.
  validation {
    condition     = length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must not repeat an availability zone."
  }
}

variable "public_subnets" {
  description = "CIDR blocks of the public subnets (load balancers, NAT gateways), one per AZ."
  type        = list(string)

  validation {
    condition     = length(var.public_subnets) == length(var.azs)
    error_message = "public_subnets needs one CIDR block per AZ, in the order of azs."
  }
}

variable "private_subnets" {
  description = "CIDR blocks of the private subnets (Fargate tasks), one per AZ."
  type        = list(string)

  validation {
    condition     = length(var.private_subnets) == length(var.azs)
    error_message = "private_subnets needs one CIDR block per AZ, in the order of azs."
  }
}

variable "database_subnets" {
  description = "CIDR blocks of the database subnets (RDS), one per AZ; no route to the internet."
  type        = list(string)

  validation {
    condition     = length(var.database_subnets) == length(var.azs)
    error_message = "database_subnets needs one CIDR block per AZ, in the order of azs."
  }
}

variable "nat_mode" {
  description = "NAT gateways for the private subnets: none, single (one shared), or per_az (one per AZ, survives an AZ outage)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["none", "single", "per_az"], var.nat_mode)
    error_message = "nat_mode must be one of none, single, per_az."
  }
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept."
  type        = number
  default     = 30
}

variable "nacl_rules" {
  description = "Network ACL rules per tier (public, private, database), each with inbound and outbound lists of {rule_number, protocol, from_port, to_port, cidr_block, rule_action, icmp_type?, icmp_code?}."
  type = map(object({
    inbound = list(object({
      rule_number = number
      protocol    = string
      from_port   = number
      to_port     = number
      cidr_block  = string
      rule_action = string
      icmp_type   = optional(number)
      icmp_code   = optional(number)
    }))
    outbound = list(object({
      rule_number = number
      protocol    = string
      from_port   = number
      to_port     = number
      cidr_block  = string
      rule_action = string
      icmp_type   = optional(number)
      icmp_code   = optional(number)
    }))
  }))

  validation {
    condition     = alltrue([for tier in ["public", "private", "database"] : contains(keys(var.nacl_rules), tier)])
    error_message = "nacl_rules must define the public, private and database tiers."
  }
}
