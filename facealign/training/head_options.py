"""The training config's `head_options`: the head's own settings, checked against its declaration.

Each head declares its settings and their defaults (facealign.models.heads.head_options: the
table for the built-in heads, a registered head's `options`). A config's head_options is
resolved to exactly those keys: an unknown key is an error naming the valid ones, a value takes
its default's type, a missing one its default. The flat keys of earlier configs and checkpoints
(pip_stride, pip_neighbours, pip_score_weight, pip_offset_weight, heatmap_weight, heatmap_sigma)
are read as their head's options; in a checkpoint's saved config those of another head are
ignored (every key was saved), in a YAML file or an override they are an error.
"""
from __future__ import annotations

import difflib

from facealign.models.heads import head_options

LEGACY = {  # flat key of earlier configs -> (head, option)
    "pip_stride": ("pip", "stride"), "pip_neighbours": ("pip", "neighbours"),
    "pip_score_weight": ("pip", "score_weight"), "pip_offset_weight": ("pip", "offset_weight"),
    "heatmap_weight": ("integral", "heatmap_weight"), "heatmap_sigma": ("integral", "heatmap_sigma"),
}


def resolve(head: str, given: dict, legacy: dict, strict: bool, error=ValueError) -> dict:
    """head_options for `head`: `given` (what was set, the flat keys in `legacy` included) over the
    declared defaults -> every declared option with its type. A flat key of another head: an error
    when strict, else dropped (a saved config holds every flat key)."""
    declared = head_options(head)
    options = dict(given)
    for key in legacy:
        owner, option = LEGACY[key]
        if owner != head and not strict:
            options.pop(option, None)
        elif owner != head:
            raise error(f"{key} is a setting of head={owner}, and this config's head is {head} "
                        f"(its options: {', '.join(declared) or 'none'})")
    unknown = sorted(set(options) - set(declared))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(declared), n=1, cutoff=0.6)
        hint = f"; did you mean head_options.{close[0]}?" if close else ""
        raise error(f"unknown head_options key {unknown[0]!r} for head={head}{hint} "
                    f"(its options: {', '.join(declared) or 'none'})")
    return {k: _typed(k, options.get(k, default), default, error) for k, default in declared.items()}


def _typed(key: str, value, default, error):
    """`value` as the type of the option's default (text from an override, an int for a float)."""
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            return str(value).lower() in ("1", "true", "yes", "on")
        return kind(value)
    except (TypeError, ValueError):
        raise error(f"head_options.{key}: expected {kind.__name__}, got {value!r}") from None
