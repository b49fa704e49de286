"""Where the project's files live. Everything is resolved from the repository root so that
commands work from any working directory."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("LOOPBAANCOACH_ROOT", Path(__file__).resolve().parent.parent))
DATA = ROOT / "data"
SCRIPT_FILE = DATA / "script" / "gesprek.yml"
SIGNAL_RULES_FILE = DATA / "signals" / "rules.yml"
COMPETENCY_DATA_DIR = DATA / "competencies"
VAR = ROOT / "var"
MODELS = ROOT / "models"
RASA_CONFIG = ROOT / "config.yml"
