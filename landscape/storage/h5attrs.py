"""How Python values are stored in HDF5 and read back: attributes, and trees of metrics.

Attributes: numbers that fit 64 bits, booleans, real numeric arrays and UTF-8 strings without NUL
are stored as themselves; anything else (dicts, lists, None, huge ints, odd strings) as a JSON
string whose name the ``json_attrs`` attribute lists, so it is decoded on reading. Trees (the
``metrics/`` groups): arrays become datasets, dicts subgroups, the rest attributes.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Mapping

import numpy as np
import torch

from landscape.base.errors import FileFormatError

_INT64 = np.iinfo(np.int64)


def _is_native(value: Any) -> bool:
    """Whether HDF5 stores ``value`` as itself: numbers that fit 64 bits, booleans, real numeric
    arrays and strings HDF5 can hold (UTF-8 without NUL). Everything else goes through JSON."""
    if isinstance(value, (bool, float, np.integer, np.floating, np.bool_)):
        return True
    if isinstance(value, int):
        return _INT64.min <= value <= _INT64.max  # bigger ints: JSON keeps them exact
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: JSON escapes them
            return False
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return False  # lists go through JSON so they come back as lists


def write_attrs(obj, attrs: Mapping[str, Any]) -> None:
    """Write strings, numbers, booleans and numeric arrays as HDF5-native values; anything else (dicts,
    lists, None) as a JSON string, its name listed in the ``json_attrs`` attribute so it is decoded
    on load. Raises ValueError for a value neither can hold (e.g. complex numbers)."""
    json_names = []
    for key, value in attrs.items():
        if key == "json_attrs":
            continue
        if not isinstance(key, str) or not key:
            raise ValueError(f"Attribute names must be non-empty strings, got {key!r}.")
        if _is_native(value):
            obj.attrs[key] = value
            continue
        try:
            obj.attrs[key] = json.dumps(jsonable(value), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Attribute {key!r} cannot be stored ({exc}); use numbers, strings, booleans, lists, "
                             "dicts or real numeric arrays.") from None
        json_names.append(key)
    if json_names:
        obj.attrs["json_attrs"] = json.dumps(sorted(json_names))


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def read_attrs(obj) -> Dict[str, Any]:
    raw = dict(obj.attrs)
    json_names = set(json.loads(plain(raw.pop("json_attrs", "[]"))))
    out = {}
    for key, value in raw.items():
        value = plain(value)
        if key in json_names:
            try:
                value = json.loads(value)
            except (TypeError, ValueError) as exc:
                raise FileFormatError(f"Attribute {key!r} should hold JSON but does not: {exc}") from exc
        out[key] = value
    return out


def plain(value: Any) -> Any:
    """numpy/bytes attribute values -> plain Python (arrays stay arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def write_tree(group, tree: Mapping[str, Any]) -> None:
    """Metrics: arrays -> datasets, dicts -> subgroups, scalars and strings -> attributes."""
    scalars = {}
    for key, value in tree.items():
        key = str(key)
        if isinstance(value, Mapping):
            write_tree(group.create_group(key), value)
        elif isinstance(value, torch.Tensor):
            group.create_dataset(key, data=value.detach().cpu().numpy())
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
            group.create_dataset(key, data=value)
        else:
            scalars[key] = value
    write_attrs(group, scalars)


def read_tree(group) -> Dict[str, Any]:
    import h5py

    out: Dict[str, Any] = read_attrs(group)
    for key, item in group.items():
        out[key] = read_tree(item) if isinstance(item, h5py.Group) else item[()]
    return out
