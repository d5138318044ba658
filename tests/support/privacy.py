"""Privacy steps: find the button a confirmation question offers."""

from __future__ import annotations


def asked_button(record: object, label_start: str) -> str:
    for response in record.responses:  # type: ignore[attr-defined]
        for row in response.get("components") or []:
            for component in row.get("components", []):
                if str(component.get("label", "")).startswith(label_start):
                    return str(component["custom_id"])
    raise AssertionError(f"no button starting with {label_start!r}")
