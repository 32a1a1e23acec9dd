"""The YAML loader of sweep files: ``yaml.safe_load`` hardened for input nobody checked.

YAML 1.2 floats (PyYAML reads ``1e-4`` as a string), a key written twice in one mapping is an
error (PyYAML keeps the last one silently), and a document that expands through aliases past
``MAX_YAML_NODES`` ("billion laughs") is refused before anything is built.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .specerror import show

# A sweep file is a few dozen lines: a document that expands (through YAML aliases) to more nodes than this is an attack, not a sweep.
MAX_YAML_NODES = 10_000


class SafeLoaderWithFloats(yaml.SafeLoader):
    """yaml.safe_load's loader, plus YAML 1.2 floats: PyYAML reads ``1e-4`` as a *string*,
    which would turn every learning rate written the usual way into a type error."""


SafeLoaderWithFloats.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _construct_mapping_no_duplicates(loader, node, deep=False):
    """A key written twice in one mapping is an error (PyYAML silently keeps the last one, so a
    second ``axes:`` or ``a2:`` would drop the first without a word).  ``<<`` merges may still
    be overridden."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {show(key)}", key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


SafeLoaderWithFloats.construct_mapping = _construct_mapping_no_duplicates


def _compose_bounded(loader) -> Any:
    """Compose the document, then count its nodes as the constructor would expand them (an
    alias counts as a full copy of its anchor): a "billion laughs" file of 1 KB expands to
    10**9 nodes and would exhaust memory, so it is refused before anything is built."""
    node = yaml.SafeLoader.compose_document(loader)
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in active:
            raise yaml.composer.ComposerError(None, None, "an alias refers to its own anchor",
                                              n.start_mark)
        active.add(id(n))
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(child) for child in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        active.discard(id(n))
        sizes[id(n)] = min(total, MAX_YAML_NODES + 1)  # saturate: the sum cannot explode
        return sizes[id(n)]

    if node is not None and size(node) > MAX_YAML_NODES:
        raise yaml.composer.ComposerError(
            None, None, f"the document expands to more than {MAX_YAML_NODES} nodes "
            "(YAML aliases); a sweep file is small", node.start_mark)
    return node


SafeLoaderWithFloats.compose_document = _compose_bounded


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoaderWithFloats)  # noqa: S506 - a SafeLoader subclass
