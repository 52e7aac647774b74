"""What of a bid request an agent is shown: the fields its entry lists, nothing else.

Least data (ARTF's OpenRTB Patch requirement): the view is cut from the request after the
privacy rules for the agent's vendor, as a JSON-shaped dict, by a tree of the allowed
fields. A list's elements are cut alike (``imp.pmp`` keeps every imp's ``pmp``). ``ext`` is
never shown (the proto conversion drops what its messages do not declare).
"""

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["Tree", "cut", "tree_of"]

Tree = Mapping[str, "Tree | bool"]
"""Field name → True (the whole value) or the tree of the sub-fields kept."""

_WHOLE: Final = True


def tree_of(paths: Iterable[str]) -> Tree:
    """The tree of dotted ``paths``; a path that keeps a whole value wins over its parts."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is _WHOLE:
                break
            if child is None:
                child = node[part] = {}
            node = child
        else:
            node[parts[-1]] = _WHOLE
    return root


def cut(data: Mapping[str, Any], tree: Tree) -> dict[str, Any]:
    """``data`` with only the fields of ``tree``."""
    kept: dict[str, Any] = {}
    for name, sub in tree.items():
        value = data.get(name)
        if value is None:
            continue
        if sub is _WHOLE:
            kept[name] = value
        elif isinstance(sub, Mapping):
            if isinstance(value, list):
                kept[name] = [cut(item, sub) for item in value if isinstance(item, Mapping)]
            elif isinstance(value, Mapping):
                kept[name] = cut(value, sub)
    return kept
