"""The days the environment's certificate has left, published to CloudWatch after every check.

`inv cert`, `inv up` and the renewal function (stackops.certs.renewer) publish it whenever they
look at the certificate covering the environment's hostnames (the one its HTTPS listeners use);
modules/cert-renewer alarms when it runs short, or when nothing published it for two days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from stackops.environments import Environment

# modules/cert-renewer's metric_namespace default, and its IAM condition (cloudwatch:namespace).
NAMESPACE = "Stackops/Certificates"
METRIC = "DaysRemaining"


def days_left(not_after: dt.datetime, now: dt.datetime) -> float:
    return round((not_after - now).total_seconds() / 86400, 2)


def publish_days_remaining(cloudwatch: Any, env: Environment, not_after: dt.datetime, now: dt.datetime) -> float:
    """Put one DaysRemaining datapoint (dimension Environment); return the days."""
    days = days_left(not_after, now)
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "Environment", "Value": env.name}],
                "Timestamp": now,
                "Value": days,
                "Unit": "Count",
            }
        ],
    )
    return days


def publish_results(env: Environment, results: Sequence[Any], now: dt.datetime | None = None) -> float | None:
    """Publish DaysRemaining for the run's result covering the environment's hostnames, if any
    (a failed renewal included: the certificate in ACM still has its days); return the days."""
    from stackops.errors import aws_errors

    wanted = set(env.hostnames)
    covering = [r for r in results if r.not_after is not None and wanted <= set(r.names)]
    if not covering:
        return None
    newest = max(covering, key=lambda r: r.not_after)  # several may cover the hostnames: the one renewed last
    with aws_errors("publishing the certificate's days left to CloudWatch", profiles=[env.profile]):
        cloudwatch = env.session().client("cloudwatch")
        return publish_days_remaining(cloudwatch, env, newest.not_after, now or dt.datetime.now(dt.UTC))
