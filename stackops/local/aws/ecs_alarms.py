"""Deployment alarms for the emulated ECS: what the scheduler (`ecs_deployments`) asks of CloudWatch.

moto 5.2.5 drops `deploymentConfiguration` on create_service (update_service keeps it as given)
and never looks at alarms during a deployment. ECS (Developer Guide, "How CloudWatch alarms detect
Amazon ECS deployment failures"): with `alarms.enable`, a deployment stays IN_PROGRESS through a
bake time after its tasks run; a named alarm going to ALARM meanwhile fails it (rolloutState
FAILED) and, with `alarms.rollback`, rolls the service back to the last completed deployment. An
alarm already in ALARM when the deployment starts is ignored for that deployment (Copilot's
documentation of the same ECS behaviour). Here an alarm's state is moto's own, so a test moves it
with CloudWatch's `set_alarm_state`; moto evaluates no metric.

What the emulator says, and how sure that is: the service event "deployment failed: alarm
detected." and "rolling back to deployment <id>." are ECS's words (as tools that parse ECS's
events expect them); the deployment's rolloutStateReason, which names the alarms, is the
emulator's own wording (ECS's exact text could not be checked offline). `inv` does not depend on
either: it names the alarms from DescribeAlarms (`stackops.ecs.rollouts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from stackops.local.aws.ecs_state import TIME_SCALE

BAKE_SECONDS = 1.0 * TIME_SCALE  # ECS derives it from the alarms' periods; kept short here
ALARM_EVENT = "deployment failed: alarm detected."


def alarm_reason(names: list[str]) -> str:
    """The emulator's rolloutStateReason for a deployment failed by its alarms."""
    return f"ECS deployment alarms: {', '.join(names)} in ALARM state."


def deployment_alarms(service: Any) -> Mapping[str, Any] | None:
    """The service's `deploymentConfiguration.alarms` when they are on and name an alarm."""
    config = getattr(service, "deployment_configuration", None) or {}
    alarms = config.get("alarms") if isinstance(config, Mapping) else None
    if isinstance(alarms, Mapping) and alarms.get("enable") and alarms.get("alarmNames"):
        return alarms
    return None


def in_alarm(service: Any, names: list[str], ago: float = 0.0) -> list[str]:
    """Those of `names` whose CloudWatch alarm (the service's account and region) is in ALARM, and
    was already `ago` seconds ago (a step due then is judged by the state at its time)."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.utils import utcnow

    alarms = cloudwatch_backends[service._account_id][service.region_name].alarms
    then = utcnow() - timedelta(seconds=max(ago, 0.0))
    return [
        name
        for name in names
        if name in alarms and alarms[name].state_value == "ALARM" and alarms[name].state_updated_timestamp <= then
    ]
