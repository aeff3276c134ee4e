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

Loading is bounded, so an untrusted file cannot exhaust memory: before anything is inflated, every
archive member's declared size is checked (a compressed member may inflate at most ``MAX_INFLATION``
times its compressed size, all members together at most ``MAX_INFLATION`` times the file's size and
``max_bytes``), every array's ``.npy`` header is checked against its member's size before the array is
allocated, the structure entry is at most ``MAX_STRUCTURE_BYTES``, and containers nest at most
``max_depth`` deep. A file over a limit is refused with a ValueError that names the limit; ``load``'s
keyword arguments raise ``max_bytes`` and ``max_depth`` for a file that is trusted and that large.

Weights saved by PyTorch: ``torch.save`` writes pickles, which this module does not read. Load them with
torch itself, restricted to tensors, and hand the arrays to ``load_state_dict``::

    import torch
    state = torch.load("model.pt", weights_only=True)        # weights_only: no arbitrary code
    model.load_state_dict({k: v.numpy() for k, v in state.items()})
    fl.save(model.state_dict(), "model.npz")                 # from then on, without torch

(fastlayers' module names, parameter names and shapes equal torch's, so the keys match.)
"""
import json
import math
import os
import zipfile
from collections import OrderedDict

import numpy as np

from .tensor import Tensor, _to_host

__all__ = ["save", "load"]

_FORMAT = "fastlayers"
_VERSION = 1
_STRUCTURE = "__structure__"

# Limits of load() (see the module docstring). fastlayers.save writes stored (uncompressed) members, and
# np.savez_compressed gets far less than 100x on weights; a zip bomb gets 1000x and more.
MAX_INFLATION = 100
MAX_BYTES = 64 << 30            # all members together, decompressed
MAX_STRUCTURE_BYTES = 64 << 20  # the JSON structure entry (a state dict of 10,000 tensors needs ~1 MB)
MAX_DEPTH = 64                  # nesting of dicts, lists and tuples
_SLACK = 1 << 20                # what a tiny compressed member may always inflate to


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


def _file_size(f):
    """The size in bytes of a path or a seekable binary file object."""
    if isinstance(f, (str, os.PathLike)):
        return os.path.getsize(f)
    here = f.tell()
    try:
        return f.seek(0, os.SEEK_END)
    finally:
        f.seek(here)


def _npy_dtype(f, source):
    """The dtype in the header of a .npy file (a path or a file object, left where it was), None when f is
    not one; nothing past the header is read."""
    def read(fp):
        if fp.read(6) != b"\x93NUMPY":
            return None
        fp.seek(-6, os.SEEK_CUR)
        try:
            version = np.lib.format.read_magic(fp)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            return read_header(fp)[2]
        except ValueError as e:
            raise ValueError(f"fastlayers.load: {source} is a .npy file with a malformed header: {e}") from None
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fp:
            return read(fp)
    here = f.tell()
    try:
        return read(f)
    finally:
        f.seek(here)


def _check_members(archive, source, file_size, max_bytes):
    """Refuses an archive whose members' declared sizes exceed the limits, before any is inflated (zipfile
    never inflates a member past its declared size)."""
    total = 0
    for info in archive.zip.infolist():
        size = info.file_size
        if info.compress_type != zipfile.ZIP_STORED and size > MAX_INFLATION * info.compress_size + _SLACK:
            raise ValueError(f"fastlayers.load: {source}: entry {info.filename!r} inflates from "
                             f"{info.compress_size} to {size} bytes, more than fastlayers.serialization."
                             f"MAX_INFLATION={MAX_INFLATION} times; refusing it (a zip bomb?)")
        total += size
    if total > MAX_INFLATION * file_size + _SLACK:
        raise ValueError(f"fastlayers.load: {source}: its entries declare {total} bytes in a file of {file_size}, "
                         f"more than fastlayers.serialization.MAX_INFLATION={MAX_INFLATION} times; refusing it")
    if total > max_bytes:
        raise ValueError(f"fastlayers.load: {source}: its entries hold {total} bytes, more than max_bytes="
                         f"{max_bytes}; pass a larger max_bytes to load a file this large")


def _check_npy_header(archive, name, source):
    """Reads entry `name`'s .npy header alone and refuses an object dtype (pickled data) or a shape whose
    data would exceed what the entry holds, before numpy allocates the array."""
    info = archive.zip.getinfo(name + ".npy")
    with archive.zip.open(info) as fp:
        try:
            version = np.lib.format.read_magic(fp)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fp)
        except ValueError as e:
            raise ValueError(f"fastlayers.load: {source} has a malformed array entry {name!r}: {e}") from None
        header = fp.tell()
    if dtype.hasobject:
        raise ValueError(f"fastlayers.load: {source} holds pickled data in entry {name!r}; refusing to load it "
                         "(loading never executes code)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size - header:
        raise ValueError(f"fastlayers.load: {source}: array entry {name!r} declares shape {shape} of {dtype} "
                         f"({nbytes} bytes) but the entry holds {info.file_size - header}; refusing it")


class _Reader:
    def __init__(self, archive, source, max_depth=MAX_DEPTH):
        self.archive = archive
        self.source = source
        self.max_depth = max_depth
        self.depth = 0

    def array(self, name):
        if not isinstance(name, str) or name not in self.archive.files or name == _STRUCTURE:
            raise ValueError(f"fastlayers.load: {self.source} refers to a missing array {name!r}")
        _check_npy_header(self.archive, name, self.source)
        try:
            return self.archive[name]
        except ValueError as e:  # an object array: pickled data
            raise ValueError(f"fastlayers.load: {self.source} holds pickled data in entry {name!r}; refusing to "
                             f"load it (loading never executes code): {e}") from None

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or "$" not in node:
            raise ValueError(f"fastlayers.load: {self.source} has a malformed structure entry {node!r:.200}")
        if node["$"] in ("dict", "odict", "list", "tuple"):
            self.depth += 1
            try:
                if self.depth > self.max_depth:
                    raise ValueError(f"fastlayers.load: {self.source} nests containers more than max_depth="
                                     f"{self.max_depth} deep; refusing it")
                return self._decode(node)
            finally:
                self.depth -= 1
        return self._decode(node)

    def _decode(self, node):
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


def load(f, *, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH):
    """Reads what `save` wrote, from a path or a seekable binary file object. Tensors come back as
    fastlayers Tensors (Parameters as Parameters), arrays as numpy arrays. Raises ValueError for a file that
    fastlayers did not write, that holds pickled data (never unpickled), or that is over a limit (see the
    module docstring: max_bytes bounds the decompressed size of all entries, max_depth the nesting)."""
    source = os.fspath(f) if isinstance(f, (str, os.PathLike)) else "the file object"
    npy_dtype = _npy_dtype(f, source)
    if npy_dtype is not None:  # refused unread: np.load would allocate what its header claims
        if npy_dtype.hasobject:
            raise ValueError(f"fastlayers.load: {source} is a .npy file of pickled data; refusing to load it "
                             "(loading never executes code)")
        raise ValueError(f"fastlayers.load: {source} is a single .npy array, not a file written by fastlayers.save")
    file_size = _file_size(f)
    try:
        archive = np.load(f, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"fastlayers.load: {source} is not a file written by fastlayers.save and holds pickled "
                         f"data (a torch.save checkpoint? see fastlayers.serialization's docstring); refusing to "
                         f"load it: {e}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"fastlayers.load: {source} is a single .npy array, not a file written by fastlayers.save")
    with archive:
        _check_members(archive, source, file_size, max_bytes)
        if _STRUCTURE not in archive.files:
            raise ValueError(f"fastlayers.load: {source} is not a file written by fastlayers.save (no "
                             f"{_STRUCTURE} entry; entries: {archive.files[:5]}); a torch.save checkpoint must be "
                             "read with torch.load(..., weights_only=True), see fastlayers.serialization")
        if archive.zip.getinfo(_STRUCTURE + ".npy").file_size > MAX_STRUCTURE_BYTES:
            raise ValueError(f"fastlayers.load: {source}: its {_STRUCTURE} entry is larger than fastlayers."
                             f"serialization.MAX_STRUCTURE_BYTES={MAX_STRUCTURE_BYTES}; refusing it")
        _check_npy_header(archive, _STRUCTURE, source)
        text = archive[_STRUCTURE]
        if text.dtype.kind != "U" or text.ndim != 0:
            raise ValueError(f"fastlayers.load: {source} has a malformed {_STRUCTURE} entry")
        try:
            structure = json.loads(str(text[()]))
        except RecursionError:
            raise ValueError(f"fastlayers.load: {source}: its {_STRUCTURE} entry nests too deeply; refusing it") \
                from None
        except json.JSONDecodeError as e:
            raise ValueError(f"fastlayers.load: {source} has a malformed {_STRUCTURE} entry: {e}") from None
        if not isinstance(structure, dict) or structure.get("format") != _FORMAT:
            raise ValueError(f"fastlayers.load: {source} is not a file written by fastlayers.save")
        if structure.get("version") != _VERSION:
            raise ValueError(f"fastlayers.load: {source} has format version {structure.get('version')!r}; this "
                             f"fastlayers reads version {_VERSION}")
        try:
            return _Reader(archive, source, max_depth).decode(structure["root"])
        except (KeyError, TypeError, AttributeError) as e:  # a node without its fields, of the wrong type
            raise ValueError(f"fastlayers.load: {source} has a malformed structure: {type(e).__name__}: {e}") \
                from None

