output "arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "dns_name" {
  description = "DNS name AWS gave the load balancer."
  value       = aws_lb.this.dns_name
}

output "security_group_id" {
  description = "Security group of the load balancer; the service admits only this group."
  value       = aws_security_group.this.id
}

output "target_group_arn" {
  description = "Target group the service registers its tasks in (once a listener forwards to it)."
  value       = aws_lb_target_group.this.arn
  # ECS refuses a target group that no listener uses ("does not have an associated load
  # balancer"): a service, created or moved onto a new target group, waits for the listeners.
  depends_on = [aws_lb_listener.http, aws_lb_listener.https]
}

output "url" {
  description = "Public URL of the service (https once a certificate is attached)."
  value       = "${local.https_enabled ? "https" : "http"}://${var.host_name}"
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener, null while no certificate is known."
  value       = one(aws_lb_listener.https[*].arn)
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (app/<name>/<id>): CloudWatch's LoadBalancer dimension."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (targetgroup/<name>/<id>): CloudWatch's TargetGroup dimension."
  value       = aws_lb_target_group.this.arn_suffix
}
