"""Confirmation rules before a change: prod asks for its name typed out; prod destroy never takes --yes alone."""

from __future__ import annotations

import sys
from collections.abc import Callable

from stackops.environments import Environment
from stackops.errors import Refused
from stackops.ui import err

# On prod these need the name typed, never --yes alone: a destroy, and applying a saved plan
# (`inv tf -- apply PLANFILE`), which may be a destroy plan made by `inv tf -- plan -destroy`.
NAME_TYPED_ACTIONS = ("destroy", "apply a saved plan")


def confirm(
    env: Environment,
    action: str,
    *,
    yes: bool = False,
    typed: str | None = None,
    ask: Callable[[str], str] = input,
    interactive: bool | None = None,
    name_needed_because: str = "",
) -> None:
    """Return when the change may go ahead; raise Refused (exit 2) otherwise.

    - dev/local: `--yes`, or answering "yes".
    - prod apply: `--yes`, or typing the environment's name.
    - prod destroy: typing the name (at the prompt or with `--confirm prod`); `--yes` alone is refused.
    - any environment, when `name_needed_because` says why (a plan that replaces the database):
      typing the name, as for prod destroy.
    """
    interactive = sys.stdin.isatty() if interactive is None else interactive
    name_needed = (env.is_production and action in NAME_TYPED_ACTIONS) or bool(name_needed_because)
    needs_name = env.is_production or name_needed
    because = f": {name_needed_because}" if name_needed_because else ""
    if typed is not None:
        if typed != env.name:
            raise Refused(
                f"refused: --confirm {typed!r} does not match the environment {env.name!r}; nothing was changed"
            )
        return
    if yes and not name_needed:
        return
    if yes:
        hint = f"type its name at the prompt or pass --confirm {env.name}"
        if not interactive:
            what = f"destroying {env.name}" if action == "destroy" else f"{action} on {env.name}"
            raise Refused(f"refused: {what} needs its name typed; --yes alone is not enough ({hint}){because}")
    if not interactive:
        way = f"--confirm {env.name}" if name_needed else "--yes"
        raise Refused(
            f"refused: {action} on {env.name} needs confirmation; run it in a terminal or pass {way}{because}"
        )
    expected = env.name if needs_name else "yes"
    if name_needed_because:
        err.print(f"The name is needed: {name_needed_because}", soft_wrap=True, markup=False)
    answer = ask(f"{action} {env.name}? Type {expected!r} to go on: ").strip()
    if answer != expected:
        raise Refused(f"refused: confirmation {answer!r} is not {expected!r}; nothing was changed")
