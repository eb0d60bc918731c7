"""Renderer presets: data (TOML) describing how to run a renderer and read its output.

See ``docs/presets.md``. The public names are re-exported here::

    from farmhand.presets import CommandContext, Preset, load_preset, list_presets
"""

from __future__ import annotations

from farmhand.presets.loader import (
    BUILTIN_DIR,
    ENV_PATH,
    list_presets,
    load_file,
    load_preset,
    read_toml,
    user_dirs,
)
from farmhand.presets.model import (
    PLACEHOLDERS,
    ArgTemplate,
    CommandContext,
    OutputSyntax,
    Preset,
    PresetMode,
    ProgressScope,
    placeholders_in,
)
from farmhand.presets.validate import preset_from_dict

__all__ = [
    "BUILTIN_DIR",
    "ENV_PATH",
    "PLACEHOLDERS",
    "ArgTemplate",
    "CommandContext",
    "OutputSyntax",
    "Preset",
    "PresetMode",
    "ProgressScope",
    "list_presets",
    "load_file",
    "load_preset",
    "placeholders_in",
    "preset_from_dict",
    "read_toml",
    "user_dirs",
]
