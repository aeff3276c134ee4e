"""Datasets and batching, mirroring torch.utils.data: Dataset, TensorDataset, Subset, random_split,
default_collate and DataLoader (single-process), and MNIST read from local IDX files (never downloaded).
Shuffling and splitting draw from a numpy Generator (fastlayers' global one by default, so
fastlayers.manual_seed makes them reproducible). A dataset with `__getitems__(indices)` is asked for a whole
batch in one call, as torch's DataLoader does."""
import collections.abc
import gzip
import math
import numbers
import os
import struct
import warnings

import numpy as np

from ..random import default_generator
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "default_collate", "DataLoader", "MNIST",
           "read_idx"]


class Dataset:
    """A map-style dataset: subclasses define __getitem__(index) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Samples are tuples of the given tensors indexed along their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for tensor in tensors:
            if not isinstance(tensor, Tensor):
                raise TypeError(f"TensorDataset takes Tensors, got {type(tensor).__name__}")
            if tensor.ndim == 0:
                raise ValueError("TensorDataset: a 0-d tensor has no first dimension to index")
        sizes = [tensor.shape[0] for tensor in tensors]
        if any(size != sizes[0] for size in sizes):
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random Subsets of the given lengths. Lengths may be
    fractions summing to 1: each gets floor(fraction * len(dataset)) and the remainder is handed out one
    by one, round-robin from the first, as torch does."""
    lengths = list(lengths)
    total = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = []
        for i, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(total * fraction)))
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
        lengths = counts
    if sum(lengths) != total:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    rng = default_generator() if generator is None else generator
    order = rng.permutation(total).tolist()
    subsets = []
    offset = 0
    for length in lengths:
        subsets.append(Subset(dataset, order[offset:offset + length]))
        offset += length
    return subsets


def _stack(arrays):
    return Tensor(np.stack(arrays))


def default_collate(batch):
    """Join a list of samples into a batch: Tensors and arrays are stacked into a Tensor with a new first
    dimension, Python floats become a float64 Tensor, ints an int64 one (bools a bool one), strings stay a
    list; dicts, namedtuples, tuples and lists are collated field by field (tuples, as in torch, come back
    as lists)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([sample.data for sample in batch])
    if isinstance(elem, (np.ndarray, np.generic)):
        if np.asarray(elem).dtype.kind in "OSUV":
            raise TypeError(f"default_collate: batch must contain numeric arrays; found {np.asarray(elem).dtype}")
        return _stack([np.asarray(sample) for sample in batch])
    if isinstance(elem, bool):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` samples joined by `collate_fn` (default_collate),
    in order or, with shuffle, in a fresh permutation each epoch drawn from `generator` (a numpy
    Generator; None uses fastlayers' global generator). drop_last drops a final short batch.
    batch_size=None yields the samples one by one, uncollated. Single-process only."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None, collate_fn=None):
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
                raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        elif drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def _indices(self):
        n = len(self.dataset)
        if not self.shuffle:
            return list(range(n))
        rng = default_generator() if self.generator is None else self.generator
        return rng.permutation(n).tolist()

    def __iter__(self):
        indices = self._indices()
        if self.batch_size is None:
            for index in indices:
                yield self.dataset[index]
            return
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start:start + self.batch_size]
            if len(chunk) < self.batch_size and self.drop_last:
                return
            getitems = getattr(self.dataset, "__getitems__", None)
            samples = getitems(chunk) if getitems is not None else [self.dataset[index] for index in chunk]
            yield self.collate_fn(samples)

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)


# ---------------------------------------------------------------------------------------------------------
# MNIST from local IDX files

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path, max_bytes=1 << 31):
    """An IDX file (MNIST's format: two zero bytes, a type code, the number of dimensions, the sizes as
    big-endian 32-bit ints, then the data) as a numpy array; `.gz` files are decompressed. Reads no more than
    the header declares (at most `max_bytes` of data), so a crafted file cannot make it inflate without bound."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
            raise ValueError(f"{path}: not an IDX file (header bytes {head!r})")
        dtype, ndim = np.dtype(_IDX_DTYPES[head[2]]), head[3]
        sizes = f.read(4 * ndim)
        if len(sizes) != 4 * ndim:
            raise ValueError(f"{path}: truncated IDX header ({4 + len(sizes)} bytes, expected {4 + 4 * ndim})")
        shape = struct.unpack(f">{ndim}I", sizes)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes > max_bytes:
            raise ValueError(f"{path}: IDX data of shape {shape} is {nbytes} bytes, over the limit of {max_bytes}")
        raw = f.read(nbytes)
        extra = len(f.read(1))
    if len(raw) != nbytes or extra:
        got = 4 + 4 * ndim + len(raw) + extra
        raise ValueError(f"{path}: {'at least ' if extra else ''}{got} bytes, expected {4 + 4 * ndim + nbytes} "
                         f"for shape {shape}")
    return np.frombuffer(raw, dtype, count=count).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{stem}[.gz] not found in {folder}")


class MNIST(Dataset):
    """MNIST (or Fashion-MNIST, or any data in its layout) from the IDX files in `root` (the names as
    distributed, optionally gzipped; also looked for under `root/MNIST/raw`, torchvision's folder). Never
    downloads. A sample is (image, label): the image a float32 array of shape (1, 28, 28) in [0, 1] (as
    torchvision's ToTensor gives), or `transform(image)` when given, and the label an int (or
    `target_transform(label)`). `data` and `targets` hold the raw uint8 images and int64 labels."""

    def __init__(self, root, train=True, transform=None, target_transform=None):
        root = os.fspath(root)
        folder = os.path.join(root, "MNIST", "raw") if os.path.isdir(os.path.join(root, "MNIST", "raw")) else root
        split = "train" if train else "t10k"
        self.data = read_idx(_find_idx(folder, f"{split}-images-idx3-ubyte"))
        self.targets = read_idx(_find_idx(folder, f"{split}-labels-idx1-ubyte")).astype(np.int64)
        if self.data.ndim != 3 or self.targets.ndim != 1 or len(self.data) != len(self.targets):
            raise ValueError(f"{folder}: {split} images {self.data.shape} and labels {self.targets.shape} do not "
                             f"match")
        self.train = bool(train)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.targets)

    def _sample(self, image, label):
        image = image[None].astype(np.float32) / np.float32(255)
        label = int(label)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __getitem__(self, index):
        return self._sample(self.data[index], self.targets[index])

    def __getitems__(self, indices):
        """A batch of samples with one indexing call per array."""
        indices = np.asarray(indices, dtype=np.int64)
        images, labels = self.data[indices], self.targets[indices]
        return [self._sample(images[i], labels[i]) for i in range(len(indices))]
