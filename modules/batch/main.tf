# The backend launches its batch jobs (ECS RunTask) on this cluster, with images from these
# repositories; the subnets it uses are published in SSM by the root (parameters.tf).
resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

module "repositories" {
  source = "../ecr"

  names       = var.repositories
  keep_images = var.keep_images
}
