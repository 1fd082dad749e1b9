"""Where things are: the repository checkout and the git-ignored folder of per-machine tool state."""

from __future__ import annotations

import os
from pathlib import Path

# The checkout holding the Terraform root, environments/, secrets.yaml and task-definitions/. The
# package is installed editable (bin/setup), so this is the folder above the package.
ROOT = Path(__file__).resolve().parent.parent


def state_root() -> Path:
    """Git-ignored folder for per-machine tool state (STACK_STATE_DIR overrides, e.g. in tests)."""
    return Path(os.environ.get("STACK_STATE_DIR") or ROOT / ".state")
