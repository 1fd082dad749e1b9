# A generated name and create_before_destroy: a replacement (a new description) creates the new
# group, moves the service (a new deployment) and the database's rule onto it, then deletes the
# old group; its delete waits while the old tasks' network interfaces still hold it.
resource "aws_security_group" "this" {
  name_prefix = "${var.name}-service-"
  description = "Service ${var.name}: admits only its load balancer"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-service" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  security_group_id            = aws_security_group.this.id
  description                  = "Traffic from the service's load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = var.load_balancer_security_group_id

  # With the group replaced, the new group gets its rules before the old one loses them.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = var.egress_rules

  security_group_id = aws_security_group.this.id
  description       = "Outbound ${each.key}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  container_definitions    = var.container_definitions

  # The container's root filesystem is read-only (task-definitions/web.json): /tmp, this task
  # storage volume, is its one writable folder.
  volume {
    name = "tmp"
  }

  # The application pipelines register revisions of this family too (new images). Terraform
  # compares the code with the family's latest ACTIVE revision, not the one it registered
  # last, so a pipeline's revision is no drift, and a revision Terraform replaces stays
  # registered: it may be what a service runs, or what `inv rollback` goes back to.
  track_latest = true
  skip_destroy = true

  # Who registered a revision: `inv` tells Terraform's from a copy by a pipeline that kept
  # the tags but changed the image (see stackops/ecs/task_definitions.py, registered_by).
  tags = {
    "stackops:registered-by" = "terraform"
    # ECS tag values hold at most 256 characters; a longer reference is not recorded.
    "stackops:image" = length(var.image) <= 256 ? var.image : "-"
  }

  lifecycle {
    # Set when Terraform registers a revision. The latest revision may be a pipeline's, with
    # other tags of ours: they are not rewritten. (One without the provider's default tags
    # still gets those added in place once, by the next apply: tags_all is not ignorable.)
    ignore_changes = [tags]
  }
}

resource "aws_ecs_service" "this" {
  name            = var.name
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = var.min_count
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = var.container_name
    container_port   = var.container_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # Deployment alarms: a release whose tasks start but then answer 5xx or fail their health
  # checks (during the rollout and ECS's bake time after it) is rolled back by ECS, as the circuit
  # breaker rolls back tasks that never start.
  dynamic "alarms" {
    for_each = length(var.deployment_alarm_names) > 0 ? [1] : []
    content {
      alarm_names = var.deployment_alarm_names
      enable      = true
      rollback    = true
    }
  }

  lifecycle {
    ignore_changes = [
      # The application repositories register new task definition revisions and `inv refresh`
      # / `inv deploy` roll the service onto them; Terraform must not roll it back.
      task_definition,
      # Autoscaling owns the running count after creation.
      desired_count,
      # Not stored by every ECS API implementation (the embedded emulator returns none), which
      # would show a change on every plan; the AWS default (DISABLED) is what we want.
      availability_zone_rebalancing,
    ]
  }
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  min_capacity       = var.min_count
  max_capacity       = var.max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value = var.cpu_target_percent

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
