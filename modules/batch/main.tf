# The backend launches its batch jobs (ECS RunTask) on this cluster, with images from these
# repositories; the subnets it uses are published in SSM by the root (parameters.tf).
resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:container insights is an input (container_insights), on in prod; it costs per metric in dev
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

module "repositories" {
  source = "../ecr"

  names        = var.repositories
  keep_images  = var.keep_images
  force_delete = var.force_delete_repositories
}
