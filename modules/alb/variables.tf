variable "name" {
  description = "Name of the load balancer and its target group (at most 32 characters)."
  type        = string

  validation {
    condition     = length(var.name) <= 32 && can(regex("^[a-zA-Z0-9-]+$", var.name))
    error_message = "name must be at most 32 letters, digits or hyphens (an AWS limit for load balancers)."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and its targets."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC: the load balancer may only reach targets inside it."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets the load balancer listens in (at least two AZs)."
  type        = list(string)
}

variable "target_port" {
  description = "Port the service's containers listen on."
  type        = number
  default     = 80
}

variable "health_check_path" {
  description = "Path the target group checks on each task."
  type        = string
  default     = "/_health"
}

variable "health_check_matcher" {
  description = "HTTP codes that count as healthy (the apps redirect some health requests)."
  type        = string
  default     = "200-302"
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener; null before one is issued (HTTP then forwards instead of redirecting)."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 with 1.2 fallback by default)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (on in prod)."
  type        = bool
  default     = false
}

variable "access_logs_bucket" {
  description = "S3 bucket for access logs; null to keep them off."
  type        = string
  default     = null
}

variable "zone_id" {
  description = "Route53 hosted zone of the service's host name."
  type        = string
}

variable "host_name" {
  description = "Fully qualified host name (<prefix>.<zone>) aliased to the load balancer."
  type        = string
}
