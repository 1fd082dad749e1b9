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

variable "force_delete" {
  description = "Delete a repository together with its images on destroy (throw-away environments only); false keeps a destroy from removing repositories that hold images."
  type        = bool
  default     = false
}
