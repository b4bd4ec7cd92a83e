"""The README and the code agree: every variable the README tells a user to set exists."""

from __future__ import annotations

import re

from paperchat.settings import Settings

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
# Read by paperchat itself rather than a Settings field: which file the settings come from.
NOT_FIELDS = {"PAPERCHAT_CONFIG"}


def _documented_variables() -> set[str]:
    """Every PAPERCHAT_* name in the README, with shorthands spelled out: "`PAPERCHAT_UI__HOST`
    / `PAPERCHAT_UI__PORT`" and "`PAPERCHAT_RETRIEVAL__DENSE_WEIGHT` / `__BM25_WEIGHT`"."""
    names: set[str] = set()
    for line in README.splitlines():
        group = ""
        for match in re.finditer(r"`(PAPERCHAT_[A-Z0-9_]+|__[A-Z0-9_]+)`", line):
            name = match.group(1)
            if name.startswith("__"):
                name = f"{group}{name}"
            else:
                group = name.rsplit("__", 1)[0] if "__" in name else ""
            names.add(name.rstrip("_"))
    return names


def _field_exists(variable: str) -> bool:
    path = variable.removeprefix("PAPERCHAT_").lower().split("__")
    model: type = Settings
    for part in path:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        model = fields[part].annotation  # type: ignore[assignment]
    return True


def test_every_paperchat_variable_in_the_readme_is_a_setting() -> None:
    documented = _documented_variables()
    assert len(documented) >= 15, documented  # the reader found the Configuration table
    unknown = sorted(v for v in documented - NOT_FIELDS if not _field_exists(v))
    assert not unknown, f"README names variables Settings does not have: {unknown}"


def test_the_reader_of_the_readme_catches_a_variable_that_does_not_exist() -> None:
    assert not _field_exists("PAPERCHAT_RETRIEVAL__NO_SUCH_KNOB")
    assert not _field_exists("PAPERCHAT_NOWHERE")
    assert _field_exists("PAPERCHAT_RETRIEVAL__TOP_K") and _field_exists("PAPERCHAT_HOME")


def test_every_settings_group_is_in_the_readme() -> None:
    groups = [name for name, f in Settings.model_fields.items()
              if hasattr(f.annotation, "model_fields")]
    missing = [g for g in groups if f"PAPERCHAT_{g.upper()}__" not in README]
    assert not missing, f"settings groups the README's Configuration never mentions: {missing}"
