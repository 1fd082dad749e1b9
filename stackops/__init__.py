"""Operations for the exii stack: environments, Terraform, secrets, certificates, ECS."""
