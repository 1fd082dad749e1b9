resource "aws_ecr_repository" "this" {
  #checkov:skip=CKV_AWS_51:the pipelines push :latest and the task definitions follow it; deploys pin revisions, not tags
  for_each = var.names

  name = each.value
  # The application pipelines push :latest (the task definitions follow it), so tags stay mutable.
  image_tag_mutability = "MUTABLE"
  # false: AWS refuses to delete a repository that holds images (RepositoryNotEmptyException), so
  # a destroy stops there. true (throw-away environments): the images are deleted with it.
  force_delete = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        # `inv` tags every image that a kept task definition revision names (a rollback target
        # must find its image); ECR never lets a lower-priority rule expire an image that this
        # rule's tag selection matches. The count is a ceiling only a runaway could reach.
        rulePriority = 1
        description  = "Images of kept task definition revisions (stackops-keep-*)"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = ["stackops-keep-"]
          countType     = "imageCountMoreThan"
          countNumber   = 1000
        }
        action = { type = "expire" }
      },
      {
        # ECR requires the `any` rule to come last.
        rulePriority = 2
        description  = "Keep the newest ${var.keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
