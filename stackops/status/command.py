"""`inv status --env E [--json]`: collect, then print the tables or the JSON document."""

from __future__ import annotations

from stackops import ui
from stackops.environments import Environment
from stackops.status.collect import collect
from stackops.status.render import render, to_json


def show_status(env: Environment, *, as_json: bool = False) -> None:
    snapshot = collect(env)
    if as_json:
        print(to_json(snapshot))  # plain print: no rich markup or wrapping in a document for scripts
    else:
        render(snapshot, ui.out)
