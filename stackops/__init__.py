"""Operations for the exii stack: environments, Terraform, secrets, certificates, ECS.

Code that runs against real AWS lives at this level and in `app_secrets/`, `certs/` and `ecs/`;
the embedded AWS (moto, pebble, their lifecycle) lives in `local/` and is never imported by it
(`cli.py` is the one place that picks it, for the emulated environment). README.md's "Layout"
section says what each module holds; tests/unit/test_layout.py holds the rules.
"""
