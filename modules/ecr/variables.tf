variable "names" {
  description = "Names of the ECR repositories to create."
  type        = set(string)
}

variable "keep_images" {
  description = "How many of the newest images each repository keeps; older ones expire."
  type        = number
  default     = 30

  validation {
    condition     = var.keep_images >= 1
    error_message = "keep_images must be at least 1."
  }
}
