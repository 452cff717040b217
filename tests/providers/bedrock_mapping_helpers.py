"""Shared data of the Bedrock mapping tests (a module, not the conftest, so test files can import it)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "bedrock_converse_stream_events.json").read_text())
SIGNATURE = "EqQBCkYIBRgCIkB/+abc==" + "x" * 40
