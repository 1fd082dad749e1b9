# Network ACL rule sets per tier, as data. NACLs are stateless: every allowed request needs its
# reply allowed too, which is what the ephemeral-port rules (1024-65535) are for.
locals {
  anywhere        = "0.0.0.0/0"
  ephemeral_ports = { from_port = 1024, to_port = 65535 }

  nacl_rules = {
    # Load balancers and NAT gateways.
    public = {
      inbound = concat(
        [
          { rule_number = 100, protocol = "tcp", from_port = 80, to_port = 80, cidr_block = local.anywhere, rule_action = "allow" },
          { rule_number = 110, protocol = "tcp", from_port = 443, to_port = 443, cidr_block = local.anywhere, rule_action = "allow" },
          # Replies to connections the NAT gateways make for the private tier.
          merge(local.ephemeral_ports, { rule_number = 200, protocol = "tcp", cidr_block = local.anywhere, rule_action = "allow" }),
          { rule_number = 300, protocol = "icmp", from_port = 0, to_port = 0, icmp_type = 8, icmp_code = 0, cidr_block = var.vpc_cidr, rule_action = "allow" },
        ],
        # Outbound traffic of the private tier, on its way to the NAT gateways.
        [for i, cidr in var.private_subnets : { rule_number = 400 + i, protocol = "tcp", from_port = 443, to_port = 443, cidr_block = cidr, rule_action = "allow" }],
        [for i, cidr in var.private_subnets : { rule_number = 420 + i, protocol = "tcp", from_port = 587, to_port = 587, cidr_block = cidr, rule_action = "allow" }],
      )
      outbound = [
        { rule_number = 100, protocol = "tcp", from_port = 80, to_port = 80, cidr_block = local.anywhere, rule_action = "allow" },
        { rule_number = 110, protocol = "tcp", from_port = 443, to_port = 443, cidr_block = local.anywhere, rule_action = "allow" },
        { rule_number = 120, protocol = "tcp", from_port = 587, to_port = 587, cidr_block = local.anywhere, rule_action = "allow" },
        # Replies to clients, and to the private tier through NAT.
        merge(local.ephemeral_ports, { rule_number = 200, protocol = "tcp", cidr_block = local.anywhere, rule_action = "allow" }),
        { rule_number = 300, protocol = "icmp", from_port = 0, to_port = 0, icmp_type = 0, icmp_code = 0, cidr_block = var.vpc_cidr, rule_action = "allow" },
      ]
    }

    # Fargate tasks.
    private = {
      inbound = [
        # From the load balancers.
        { rule_number = 100, protocol = "tcp", from_port = 80, to_port = 80, cidr_block = var.vpc_cidr, rule_action = "allow" },
        # Replies from the internet (through NAT), AWS APIs and the database.
        merge(local.ephemeral_ports, { rule_number = 200, protocol = "tcp", cidr_block = local.anywhere, rule_action = "allow" }),
      ]
      outbound = concat(
        [
          { rule_number = 100, protocol = "tcp", from_port = 443, to_port = 443, cidr_block = local.anywhere, rule_action = "allow" },
          { rule_number = 110, protocol = "tcp", from_port = 587, to_port = 587, cidr_block = local.anywhere, rule_action = "allow" },
          # Replies to the load balancers.
          merge(local.ephemeral_ports, { rule_number = 200, protocol = "tcp", cidr_block = var.vpc_cidr, rule_action = "allow" }),
        ],
        [for i, cidr in var.database_subnets : { rule_number = 300 + i, protocol = "tcp", from_port = 5432, to_port = 5432, cidr_block = cidr, rule_action = "allow" }],
      )
    }

    # RDS: Postgres from the private tier, replies back to it; nothing else.
    database = {
      inbound = [for i, cidr in var.private_subnets : { rule_number = 100 + i, protocol = "tcp", from_port = 5432, to_port = 5432, cidr_block = cidr, rule_action = "allow" }]
      outbound = [for i, cidr in var.private_subnets :
        merge(local.ephemeral_ports, { rule_number = 100 + i, protocol = "tcp", cidr_block = cidr, rule_action = "allow" })
      ]
    }
  }
}
