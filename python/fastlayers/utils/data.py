"""Datasets and batching, mirroring torch.utils.data: Dataset, TensorDataset, Subset, random_split,
default_collate and DataLoader (single-process). Shuffling and splitting draw from a numpy Generator
(fastlayers' global one by default, so fastlayers.manual_seed makes them reproducible)."""
import collections.abc
import math
import numbers
import warnings

import numpy as np

from ..random import default_generator
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "default_collate", "DataLoader"]


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
            yield self.collate_fn([self.dataset[index] for index in chunk])

    def __len__(self):
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)
