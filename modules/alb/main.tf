locals {
  https_enabled = var.certificate_arn != null
  # AWS caps target group names at 32 characters and the provider adds a 26-character unique
  # suffix, so a prefix has at most 6: the start of the service's name (the last word of name).
  target_group_prefix = "${substr(element(split("-", var.name), length(split("-", var.name)) - 1), 0, 5)}-"
}

# A generated name (name_prefix) and create_before_destroy: a change that replaces the group (its
# description, its VPC) creates the new one first, moves the load balancer onto it, then deletes
# the old one. With a fixed name the new group cannot exist beside the old, and the old one cannot
# be deleted while the load balancer uses it (DependencyViolation until the delete times out).
resource "aws_security_group" "this" {
  name_prefix = "${var.name}-alb-"
  description = "Load balancer ${var.name}: HTTP and HTTPS from the internet, to its targets only"
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "web" {
  #checkov:skip=CKV_AWS_260:a public web endpoint; port 80 only redirects to HTTPS once a certificate exists
  for_each = toset(["80", "443"])

  security_group_id = aws_security_group.this.id
  description       = "Public web traffic on ${each.key}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = "0.0.0.0/0"

  # With the group replaced, the new group gets its rules before the old one loses them.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  security_group_id = aws_security_group.this.id
  description       = "To the service's tasks inside the VPC"
  ip_protocol       = "tcp"
  from_port         = var.target_port
  to_port           = var.target_port
  cidr_ipv4         = var.vpc_cidr

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_150:deletion protection is an input (deletion_protection), on in prod
  #checkov:skip=CKV2_AWS_28:no WAF in this product yet; invalid headers are dropped and TLS 1.3 is enforced
  #checkov:skip=CKV_AWS_91:access logs are an input (access_logs_bucket); the log bucket needs an ELB delivery policy first
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.subnet_ids
  security_groups    = [aws_security_group.this.id]

  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }
}

# Replaced before destroyed, like the security group: a listener still forwards to the old target
# group, which AWS refuses to delete (ResourceInUse) until the listeners point at the new one.
resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; targets are in private subnets and admit only its security group
  name_prefix = local.target_group_prefix
  port        = var.target_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  health_check {
    path    = var.health_check_path
    matcher = var.health_check_matcher
  }

  tags = { Name = var.name }

  lifecycle {
    create_before_destroy = true
  }
}

# Before a certificate exists the HTTP listener forwards, so a first deploy is reachable;
# once `inv cert` has published one, HTTP redirects to HTTPS.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = local.https_enabled ? "redirect" : "forward"

    dynamic "forward" {
      for_each = local.https_enabled ? [] : [1]
      content {
        target_group {
          arn = aws_lb_target_group.this.arn
        }
      }
    }

    dynamic "redirect" {
      for_each = local.https_enabled ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

resource "aws_route53_record" "this" {
  zone_id = var.zone_id
  name    = var.host_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
