variable "name" {
  description = "Name of the service; also its task definition family and security group."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster the service runs on."
  type        = string
}

variable "cluster_name" {
  description = "Name of that cluster (for the autoscaling resource id)."
  type        = string
}

variable "container_definitions" {
  description = "Container definitions JSON, rendered by the root from task-definitions/web.json."
  type        = string
}

variable "image" {
  description = "The image the container definitions run, recorded on each revision Terraform registers (tag stackops:image)."
  type        = string
}

variable "container_name" {
  description = "Container that receives the load balancer's traffic."
  type        = string
}

variable "container_port" {
  description = "Port that container listens on."
  type        = number
  default     = 80
}

variable "cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Fargate task memory in MiB; must suit the CPU size."
  type        = number
  default     = 512
}

variable "execution_role_arn" {
  description = "Role ECS uses to pull the image, write logs and inject secrets."
  type        = string
}

variable "task_role_arn" {
  description = "Role the application code runs as."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in (they get no public IP)."
  type        = list(string)
}

variable "load_balancer_security_group_id" {
  description = "Security group of the service's load balancer: the only source admitted."
  type        = string
}

variable "target_group_arn" {
  description = "Target group the tasks register in."
  type        = string
}

variable "egress_rules" {
  description = "Outbound traffic the tasks need: name => {port, cidr}. HTTPS to AWS APIs and partners, Postgres to the database subnets, SMTP submission."
  type = map(object({
    port = number
    cidr = string
  }))
}

variable "min_count" {
  description = "Fewest running tasks (also the count at creation)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_count >= 1
    error_message = "min_count must be at least 1."
  }
}

variable "max_count" {
  description = "Most running tasks autoscaling may start."
  type        = number
  default     = 2
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation the autoscaling policy keeps the service at."
  type        = number
  default     = 60
}

variable "deployment_alarm_names" {
  description = "CloudWatch alarms ECS watches during a deployment: one in ALARM fails the deployment and rolls it back to the last completed one. Empty: none."
  type        = list(string)
  default     = []
}
