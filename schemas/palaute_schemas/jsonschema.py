"""Export every message model as a JSON Schema file (the checked-in contract)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from palaute_schemas.topics import ALL_TOPICS

SCHEMA_DIR = Path(__file__).parent / "jsonschema"


def render_all() -> dict[str, str]:
    """File name → JSON Schema text for every topic's model."""
    files: dict[str, str] = {}
    for topic in ALL_TOPICS:
        schema = topic.model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:palaute:{topic.name}"
        schema["x-topic"] = topic.name
        files[f"{topic.name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def main() -> None:
    """Write the JSON Schema files beside the models (run after changing a model)."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for stale in SCHEMA_DIR.glob("*.json"):
        stale.unlink()
    for name, text in render_all().items():
        (SCHEMA_DIR / name).write_text(text)
    sys.stdout.write(f"wrote {len(ALL_TOPICS)} schemas to {SCHEMA_DIR}\n")


if __name__ == "__main__":
    main()
