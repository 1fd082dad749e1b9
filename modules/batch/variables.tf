variable "name" {
  description = "Name of the batch cluster the backend starts its jobs on."
  type        = string
}

variable "container_insights" {
  description = "Turn on CloudWatch Container Insights for the batch cluster."
  type        = bool
  default     = false
}

variable "repositories" {
  description = "ECR repositories of the batch jobs' images."
  type        = set(string)
}

variable "keep_images" {
  description = "How many of the newest images each repository keeps."
  type        = number
  default     = 30
}

variable "force_delete_repositories" {
  description = "Let a destroy delete the repositories with the images they hold (throw-away environments only)."
  type        = bool
  default     = false
}
