"""What bench/compare.py's families are built from and timed with: the two libraries (Env), a case and its
family registry (Case, Family, family), functional_case for ops whose fastlayers.nn.functional form mirrors
torch's, and the alternating timing (time_alternating) that bench/torch_dropin.py uses too.

Imports nothing of bench/ itself, so compare.py, torch_dropin.py and end_to_end.py depend on it, not on each
other."""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

import numpy as np


# ---------------------------------------------------------------------------------------------------------
# The two libraries


class Env:
    """What fastlayers offers right now: the user-level API (functional + autograd) and/or _C."""

    def __init__(self, api: str = "auto"):
        import torch
        import torch.nn.functional as TF

        self.torch = torch
        self.TF = TF
        self.api_request = api
        self.F = None
        self.user_error = None
        try:
            import fastlayers
        except Exception as e:  # the package's Python side is mid-change: use the extension alone
            self.user_error = f"import fastlayers failed: {type(e).__name__}: {e}"
            fastlayers = _load_extension_only()
        self.fl = fastlayers
        self.C = getattr(fastlayers, "_C", None)
        if self.user_error is None:
            try:
                import fastlayers.nn.functional as FF

                self.F = FF
            except Exception as e:  # the user-level API is still being written
                self.user_error = f"fastlayers.nn.functional not importable: {type(e).__name__}: {e}"
        self._tensor = getattr(fastlayers, "tensor", None) or getattr(fastlayers, "Tensor", None)
        if self.F is not None and self._tensor is None:
            self.user_error = "fastlayers.tensor / fastlayers.Tensor missing"
            self.F = None
        self.no_grad = getattr(fastlayers, "no_grad", None) or contextlib.nullcontext

    # --- availability -----------------------------------------------------------------------------------
    def has_user(self, name: str) -> bool:
        return self.F is not None and hasattr(self.F, name)

    def has_c(self, names) -> bool:
        return bool(names) and self.C is not None and all(hasattr(self.C, n) for n in names)

    # --- helpers ----------------------------------------------------------------------------------------
    def tensor(self, array, requires_grad=False):
        return self._tensor(array, requires_grad=requires_grad)

    def set_threads(self, n: int) -> int:
        setter = getattr(self.fl, "set_num_threads", None) or self.C.set_num_threads
        setter(n)
        self.torch.set_num_threads(n)
        getter = getattr(self.fl, "get_num_threads", None) or getattr(self.C, "get_num_threads", None)
        return getter() if getter else n

    def simd_level(self) -> str:
        try:
            return self.C.simd_level()
        except Exception:
            return "?"


def _load_extension_only():
    """fastlayers._C loaded from its file without running fastlayers/__init__.py, as a stand-in package."""
    import glob
    import importlib.machinery
    import importlib.util
    import types

    spec = importlib.util.find_spec("fastlayers")
    if spec is None:
        raise ImportError("fastlayers is not installed (pip install -e .)")
    for folder in spec.submodule_search_locations or []:
        for path in sorted(glob.glob(os.path.join(folder, "_C*" + importlib.machinery.EXTENSION_SUFFIXES[0]))):
            ext_spec = importlib.util.spec_from_file_location("fastlayers._C", path)
            C = importlib.util.module_from_spec(ext_spec)
            ext_spec.loader.exec_module(C)
            pkg = types.SimpleNamespace(_C=C, __file__=spec.origin, __version__="? (package import failed)",
                                        set_num_threads=C.set_num_threads,
                                        get_num_threads=getattr(C, "get_num_threads", None))
            return pkg
    raise ImportError("fastlayers could not be imported and its _C extension was not found")


def to_numpy(value) -> np.ndarray:
    """An ndarray from a fastlayers Tensor, a torch tensor or an ndarray."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    if hasattr(value, "data"):
        return np.asarray(value.data)
    return np.asarray(value)


# ---------------------------------------------------------------------------------------------------------
# Cases and the family registry


@dataclass
class Case:
    family: str
    name: str
    descriptor: str
    impl: str
    api: str                                   # "user" or "_C"
    ours: Dict[str, Callable[[], dict]]        # mode -> call returning {result name: array-like}
    torch: Dict[str, Callable[[], dict]]
    work: Dict[str, Tuple[float, str]]         # mode -> (amount, "flop" | "byte")
    spec: dict = field(default_factory=dict)


@dataclass
class Family:
    key: str                                   # the table's key
    functional: Callable[[dict], str]          # the fastlayers.nn.functional name a case needs
    build: Callable                            # build(env, spec, api) -> Case
    c_names: Tuple[str, ...] = ()              # _C functions of the fallback path (none: no fallback)
    shrink: Optional[Callable[[dict], dict]] = None


FAMILIES: Dict[str, Family] = {}


def family(key, functional=None, c_names=(), shrink=None):
    """Register ``build(env, spec, api) -> Case`` for the table key ``key``.

    ``functional``: the fastlayers.nn.functional name (a string, or a function of the case's spec when
    it differs by case, e.g. activations); defaults to ``key``.
    """
    if functional is None:
        functional = key
    fn_of = functional if callable(functional) else (lambda spec, _f=functional: _f)

    def deco(build):
        FAMILIES[key] = Family(key, fn_of, build, tuple(c_names), shrink or shrink_batch)
        return build

    return deco


def shrink_batch(spec: dict) -> dict:
    """--shrink: the same case with a batch of at most 2 (or a small element count)."""
    s = dict(spec)
    if "N" in s:
        s["N"] = min(s["N"], 2)
    if "numel" in s:
        s["numel"] = min(s["numel"], 1 << 14)
    if "rows" in s:
        s["rows"] = min(s["rows"], 4)
    return s


def randn(rng, shape, scale=1.0) -> np.ndarray:
    # np.asarray: a 0-d shape (a reduced loss's grad_output) gives an array, not a numpy scalar
    return np.asarray((rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)).astype(np.float32))


def nbytes(*arrays) -> int:
    return int(sum(a.nbytes for a in arrays if a is not None))


def functional_case(env: Env, fam: str, spec: dict, *, inputs, call, descriptor, impl="-",
                    flops: Optional[float] = None, bwd_flops_factor: float = 3.0, user: bool = True) -> Case:
    """A case for an op whose fastlayers.nn.functional form mirrors torch.nn.functional's.

    inputs: list of (name, ndarray, differentiable, as_tensor). Non-tensor inputs (as_tensor False) are
            passed as they are to both sides.
    call:   call(F, args) -> output, with F either torch.nn.functional or fastlayers.nn.functional and
            args the dict of inputs converted to that library's tensors.
    flops:  flops of one forward pass; None means the op is memory-bound and its rate is reported in GB/s
            of minimal traffic: forward reads every input and writes the output, backward reads
            grad_output and every input and writes every gradient.
    """
    torch = env.torch

    def torch_args(grad: bool):
        out = {}
        for name, a, diff, as_tensor in inputs:
            if not as_tensor:
                out[name] = a
                continue
            t = torch.from_numpy(a.copy())
            if grad and diff:
                t.requires_grad_(True)
            out[name] = t
        return out

    def ours_args(grad: bool):
        out = {}
        for name, a, diff, as_tensor in inputs:
            out[name] = env.tensor(a.copy(), requires_grad=bool(grad and diff)) if as_tensor else a
        return out

    diff_names = [name for name, _, diff, as_tensor in inputs if diff and as_tensor]
    t_fwd_args, t_bwd_args = torch_args(False), torch_args(True)
    with torch.no_grad():
        y0 = call(env.TF, t_fwd_args)
    rng = np.random.default_rng(4321)
    g = randn(rng, tuple(y0.shape))
    tg = torch.from_numpy(g.copy())
    if user:
        o_fwd_args, o_bwd_args = ours_args(False), ours_args(True)
    F = env.F

    def torch_fwd():
        with torch.no_grad():
            return {"output": call(env.TF, t_fwd_args)}

    def torch_fb():
        for n in diff_names:
            t_bwd_args[n].grad = None
        y = call(env.TF, t_bwd_args)
        y.backward(tg)
        return {"grad_" + n: t_bwd_args[n].grad for n in diff_names}

    def ours_fwd():
        with env.no_grad():
            return {"output": call(F, o_fwd_args)}

    def ours_fb():
        for n in diff_names:
            o_bwd_args[n].grad = None
        y = call(F, o_bwd_args)
        y.backward(g)
        return {"grad_" + n: o_bwd_args[n].grad for n in diff_names}

    if flops is not None:
        work = {"fwd": (float(flops), "flop"), "fwd+bwd": (bwd_flops_factor * float(flops), "flop")}
    else:
        tensors = [a for _, a, _, as_tensor in inputs if as_tensor]
        diffs = [a for _, a, diff, as_tensor in inputs if diff and as_tensor]
        fwd_b = nbytes(*tensors) + g.nbytes
        bwd_b = g.nbytes + nbytes(*tensors) + nbytes(*diffs)
        work = {"fwd": (float(fwd_b), "byte"), "fwd+bwd": (float(fwd_b + bwd_b), "byte")}
    ours = {"fwd": ours_fwd, "fwd+bwd": ours_fb} if user else {}  # without user: the caller fills it
    return Case(fam, spec["name"], descriptor, impl, "user" if user else "?",
                ours, {"fwd": torch_fwd, "fwd+bwd": torch_fb}, work, spec)
# ---------------------------------------------------------------------------------------------------------
# Timing and checking


def timed(fn) -> float:
    t0 = time.perf_counter()
    r = fn()
    dt = time.perf_counter() - t0
    del r
    return dt


def time_alternating(f_ours, f_torch, reps: int, warmup: int, max_seconds: float):
    """Warm-up pairs, then (ours, torch) pairs until `reps` or `max_seconds` (at least one pair)."""
    start = time.perf_counter()
    for _ in range(max(warmup, 0)):
        timed(f_ours)
        timed(f_torch)
        if time.perf_counter() - start > max_seconds / 4:
            break
    ours, theirs = [], []
    start = time.perf_counter()
    while len(ours) < reps:
        ours.append(timed(f_ours))
        theirs.append(timed(f_torch))
        if time.perf_counter() - start > max_seconds:
            break
    return ours, theirs


def max_abs_diffs(ours: dict, ref: dict) -> Tuple[Dict[str, float], bool]:
    """Largest |ours - torch| per result, and whether any exceeds a loose float32 tolerance.

    The tolerance is 1e-3 of the reference's largest magnitude (plus 1e-5): far above float32
    reordering noise for these reduction lengths, far below what a wrong kernel gives.
    """
    diffs, bad = {}, False
    for k, r in ref.items():
        r = to_numpy(r)
        o = to_numpy(ours.get(k))
        if o is None or r is None or o.shape != r.shape:
            diffs[k] = float("inf")
            bad = True
            continue
        if r.size == 0:
            diffs[k] = 0.0
            continue
        d = float(np.max(np.abs(o.astype(np.float64) - r.astype(np.float64))))
        diffs[k] = d
        if not d <= 1e-5 + 1e-3 * float(np.max(np.abs(r))):  # also catches NaN
            bad = True
    return diffs, bad


# ---------------------------------------------------------------------------------------------------------
# Planning: which cases run, which are skipped and why
