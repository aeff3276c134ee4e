"""Weights in the safetensors format, without torch and without pickle: files written here load with
`safetensors.torch.load_file` and files written by torch's safetensors load here.

    fl.save_safetensors(model.state_dict(), "model.safetensors")
    model.load_state_dict(fl.load_safetensors("model.safetensors"))

The format: 8 bytes (little-endian unsigned) giving the length of a JSON header, the header (each tensor's
dtype, shape and byte range in the data, plus an optional "__metadata__" of strings), then the data,
little-endian, row-major. Reading is bounded: the header length, every byte range and the total are checked
against the file's size and the limits below before anything is allocated, so a crafted file is refused with a
ValueError instead of exhausting memory."""
import json
import os
import struct
from collections import OrderedDict

import numpy as np

from .tensor import Tensor, _to_host

__all__ = ["save_safetensors", "load_safetensors"]

# safetensors dtype codes and numpy's; bfloat16 has no numpy dtype (refused with the reason)
_CODES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_CODE_OF = {np.dtype(v): k for k, v in _CODES.items()}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit


def save_safetensors(tensors, path, metadata=None):
    """Writes a dict of name -> Tensor or numpy array (e.g. `model.state_dict()`) to `path`; `metadata` is an
    optional dict of str -> str kept in the header."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_safetensors: metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"save_safetensors: tensor names must be strings other than '__metadata__', got {name!r}")
        array = _to_host(value.data if isinstance(value, Tensor) else np.asarray(value))
        code = _CODE_OF.get(array.dtype)
        if code is None:
            raise TypeError(f"save_safetensors: {name} has dtype {array.dtype}; supported: "
                            f"{', '.join(str(np.dtype(v)) for v in _CODES.values())}")
        blob = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the safetensors library writes it
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def load_safetensors(path, max_bytes=None):
    """An OrderedDict of name -> numpy array read from a safetensors file (in the file's order of offsets), for
    `load_state_dict`. `max_bytes` (default: no limit beyond the file's own size) caps the total tensor data."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: not a safetensors file ({size} bytes, shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"{path}: header length {n} exceeds the file ({size} bytes) or the limit "
                             f"({MAX_HEADER_BYTES} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: the safetensors header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path}: the safetensors header must be a JSON object")
        header.pop("__metadata__", None)
        data_size = size - 8 - n
        entries = []
        for name, info in header.items():
            try:
                code, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            except (TypeError, KeyError, ValueError):
                raise ValueError(f"{path}: entry {name!r} lacks dtype, shape or data_offsets") from None
            if code not in _CODES:
                raise TypeError(f"{path}: {name} has dtype {code}, which fastlayers cannot hold (numpy has no "
                                f"{code}); supported: {', '.join(_CODES)}")
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                    and isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_size):
                raise ValueError(f"{path}: {name} has a bad shape {shape} or byte range [{begin}, {end}) for "
                                 f"{data_size} bytes of data")
            itemsize = np.dtype(_CODES[code]).itemsize
            count = 1
            for d in shape:
                count *= d
            if count * itemsize != end - begin:
                raise ValueError(f"{path}: {name} of shape {shape} and dtype {code} needs {count * itemsize} bytes, "
                                 f"its range holds {end - begin}")
            entries.append((begin, end, name, code, shape))
        entries.sort()
        for (_, end0, name0, _, _), (begin1, _, name1, _, _) in zip(entries, entries[1:]):
            if begin1 < end0:
                raise ValueError(f"{path}: the byte ranges of {name0} and {name1} overlap")
        total = sum(end - begin for begin, end, *_ in entries)
        if max_bytes is not None and total > max_bytes:
            raise ValueError(f"{path}: {total} bytes of tensor data, over max_bytes={max_bytes}")
        out = OrderedDict()
        for begin, end, name, code, shape in entries:
            f.seek(8 + n + begin)
            raw = f.read(end - begin)
            dtype = np.dtype(_CODES[code]).newbyteorder("<")
            out[name] = np.frombuffer(raw, dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return out
