"""fastlayers.save / fastlayers.load: a safe file format for state dicts and other nested data.

A file is an uncompressed numpy ``.npz`` archive (a zip of ``.npy`` files): one entry per array, named
``a0``, ``a1``, ..., and an entry ``__structure__`` holding, as a JSON string, the nested structure with
references to those arrays. What can be saved: dicts (keys of the kinds below; OrderedDicts stay
OrderedDicts), lists, tuples, fastlayers Tensors and Parameters (with requires_grad), numpy arrays of
numeric or bool dtype, numpy scalars, int, float, bool, str and None. That covers ``Module.state_dict()``
and ``Optimizer.state_dict()``, so::

    fl.save(model.state_dict(), "model.npz");  model.load_state_dict(fl.load("model.npz"))
    fl.save(opt.state_dict(), "opt.npz");      opt.load_state_dict(fl.load("opt.npz"))

round-trip exactly. Loading never executes code: arrays are read with ``np.load(allow_pickle=False)`` and
the structure is plain JSON, so a file holding a pickled object (an object array, a torch checkpoint) is
refused with a ValueError.

Weights saved by PyTorch: ``torch.save`` writes pickles, which this module does not read. Load them with
torch itself, restricted to tensors, and hand the arrays to ``load_state_dict``::

    import torch
    state = torch.load("model.pt", weights_only=True)        # weights_only: no arbitrary code
    model.load_state_dict({k: v.numpy() for k, v in state.items()})
    fl.save(model.state_dict(), "model.npz")                 # from then on, without torch

(fastlayers' module names, parameter names and shapes equal torch's, so the keys match.)
"""
import json
import os
from collections import OrderedDict

import numpy as np

from .tensor import Tensor, _to_host

__all__ = ["save", "load"]

_FORMAT = "fastlayers"
_VERSION = 1
_STRUCTURE = "__structure__"


class _Writer:
    def __init__(self):
        self.arrays = {}

    def array(self, value, where):
        value = _to_host(value)
        if value.dtype.hasobject or value.dtype.kind not in "biufc":
            raise TypeError(f"fastlayers.save: {where} is an array of dtype {value.dtype}; only numeric and bool "
                            "arrays can be saved")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value
        return name

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, Tensor):
            from .nn.parameter import Parameter
            return {"$": "tensor", "array": self.array(value.data, where), "requires_grad": value.requires_grad,
                    "parameter": isinstance(value, Parameter)}
        if isinstance(value, np.ndarray):
            return {"$": "ndarray", "array": self.array(value, where)}
        if isinstance(value, np.generic):
            return {"$": "scalar", "array": self.array(np.asarray(value), where)}
        if isinstance(value, dict):
            kind = "odict" if isinstance(value, OrderedDict) else "dict"
            return {"$": kind, "items": [[self.key(k, where), self.encode(v, f"{where}[{k!r}]")]
                                         for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {"$": kind, "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        raise TypeError(f"fastlayers.save: cannot save {where} of type {type(value).__name__}; supported are "
                        "dict, list, tuple, Tensor, numpy arrays and scalars, int, float, bool, str and None")

    def key(self, key, where):
        if key is None or isinstance(key, (bool, int, float, str, tuple)):
            return self.encode(key, where)
        raise TypeError(f"fastlayers.save: cannot save the dict key {key!r} (type {type(key).__name__}) in {where}")


def save(obj, f):
    """Writes `obj` (see the module docstring for what it may hold) to `f`, a path or a binary file object."""
    writer = _Writer()
    structure = {"format": _FORMAT, "version": _VERSION, "root": writer.encode(obj, "obj")}
    entries = dict(writer.arrays)
    entries[_STRUCTURE] = np.array(json.dumps(structure))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:  # the exact path: np.savez would append ".npz" to a name without it
            np.savez(out, **entries)
    else:
        np.savez(f, **entries)


class _Reader:
    def __init__(self, archive, source):
        self.archive = archive
        self.source = source

    def array(self, name):
        if not isinstance(name, str) or name not in self.archive.files or name == _STRUCTURE:
            raise ValueError(f"fastlayers.load: {self.source} refers to a missing array {name!r}")
        try:
            return self.archive[name]
        except ValueError as e:  # an object array: pickled data
            raise ValueError(f"fastlayers.load: {self.source} holds pickled data in entry {name!r}; refusing to "
                             f"load it (loading never executes code): {e}") from None

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or "$" not in node:
            raise ValueError(f"fastlayers.load: {self.source} has a malformed structure entry {node!r}")
        kind = node["$"]
        if kind == "tensor":
            from .nn.parameter import Parameter
            array = self.array(node["array"])
            if node.get("parameter"):
                return Parameter(array, requires_grad=bool(node.get("requires_grad", True)))
            return Tensor(array, requires_grad=bool(node.get("requires_grad", False)))
        if kind == "ndarray":
            return self.array(node["array"])
        if kind == "scalar":
            return self.array(node["array"])[()]
        if kind in ("dict", "odict"):
            items = ((self.decode(k), self.decode(v)) for k, v in node["items"])
            return OrderedDict(items) if kind == "odict" else dict(items)
        if kind == "list":
            return [self.decode(v) for v in node["items"]]
        if kind == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        raise ValueError(f"fastlayers.load: {self.source} has an unknown structure entry kind {kind!r}")


def load(f):
    """Reads what `save` wrote, from a path or a binary file object. Tensors come back as fastlayers
    Tensors (Parameters as Parameters), arrays as numpy arrays. Raises ValueError for a file that fastlayers
    did not write or that holds pickled data (never unpickled)."""
    source = os.fspath(f) if isinstance(f, (str, os.PathLike)) else "the file object"
    try:
        archive = np.load(f, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"fastlayers.load: {source} is not a file written by fastlayers.save and holds pickled "
                         f"data (a torch.save checkpoint? see fastlayers.serialization's docstring); refusing to "
                         f"load it: {e}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"fastlayers.load: {source} is a single .npy array, not a file written by fastlayers.save")
    with archive:
        if _STRUCTURE not in archive.files:
            raise ValueError(f"fastlayers.load: {source} is not a file written by fastlayers.save (no "
                             f"{_STRUCTURE} entry; entries: {archive.files[:5]}); a torch.save checkpoint must be "
                             "read with torch.load(..., weights_only=True), see fastlayers.serialization")
        text = archive[_STRUCTURE]
        if text.dtype.kind != "U" or text.ndim != 0:
            raise ValueError(f"fastlayers.load: {source} has a malformed {_STRUCTURE} entry")
        structure = json.loads(str(text[()]))
        if not isinstance(structure, dict) or structure.get("format") != _FORMAT:
            raise ValueError(f"fastlayers.load: {source} is not a file written by fastlayers.save")
        if structure.get("version") != _VERSION:
            raise ValueError(f"fastlayers.load: {source} has format version {structure.get('version')!r}; this "
                             f"fastlayers reads version {_VERSION}")
        return _Reader(archive, source).decode(structure["root"])

