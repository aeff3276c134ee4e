"""fastlayers.save / fastlayers.load: module and optimizer state dicts round-trip exactly (values, dtypes, key
order, types), nested structures of every supported kind, file paths and file objects; a file holding pickled
data (an object array, a torch checkpoint, a pickled .npy) is refused without running it; unsupported values
raise TypeError naming where they are; torch.save'd tensor dicts come in through torch.load(weights_only=True)."""
import io
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import nn


def _model():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.BatchNorm1d(5), nn.Linear(5, 2))


def _same(a, b, where="obj"):
    """Equal values, types and dtypes, recursively; arrays bitwise."""
    assert type(a) is type(b), f"{where}: type {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, fl.Tensor):
        assert a.requires_grad == b.requires_grad, where
        a, b = a.detach().numpy(), b.detach().numpy()
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), f"{where}: {a.dtype}{np.shape(a)}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_module_state_dict_round_trips_exactly(tmp_path):
    model = _model()
    model(fl.Tensor(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)))  # BatchNorm stats
    path = tmp_path / "model.npz"
    fl.save(model.state_dict(), path)
    loaded = fl.load(path)
    _same(loaded, model.state_dict())
    other = _model()
    other.load_state_dict(loaded)
    _same(other.state_dict(), model.state_dict())
    fl.save(model.state_dict(), str(tmp_path / "no_suffix"))  # the exact name, no ".npz" appended
    _same(fl.load(str(tmp_path / "no_suffix")), model.state_dict())


@pytest.mark.parametrize("make_opt", [lambda p: fl.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                      lambda p: fl.optim.Adam(p, lr=1e-2, betas=(0.8, 0.95), amsgrad=True)],
                         ids=["sgd", "adam"])
def test_optimizer_state_dict_round_trips_and_training_continues_identically(tmp_path, make_opt):
    rng = np.random.default_rng(0)
    x, y = fl.Tensor(rng.standard_normal((8, 6)).astype(np.float32)), rng.standard_normal((8, 2))

    def step(model, opt):
        opt.zero_grad()
        ((model(x) - fl.Tensor(y)) ** 2).mean().backward()
        opt.step()

    model = _model()
    opt = make_opt(model.parameters())
    for _ in range(2):
        step(model, opt)
    fl.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 2}, tmp_path / "ckpt.npz")
    ckpt = fl.load(tmp_path / "ckpt.npz")
    _same(ckpt["opt"], opt.state_dict())
    assert ckpt["epoch"] == 2
    model2 = _model()
    opt2 = make_opt(model2.parameters())
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    step(model, opt)
    step(model2, opt2)
    _same(model2.state_dict(), model.state_dict())


def test_nested_values_of_every_kind_round_trip_through_a_file_object():
    obj = OrderedDict([
        ("ints", [1, -2, 3 ** 40]), ("floats", (0.5, float("inf"), float("nan"), -0.0)), ("flags", [True, False]),
        ("none", None), ("text", "naïve ✓"), (3, "int key"), ((1, "a"), "tuple key"), (2.5, {"float": "key"}),
        ("arrays", [np.arange(6, dtype=np.int64).reshape(2, 3), np.zeros((0, 4), np.float32),
                    np.array([True, False]), np.array(1.5 + 2j), np.asfortranarray(np.eye(3))]),
        ("scalars", [np.float32(1.25), np.int64(7), np.bool_(True)]),
        ("tensors", {"plain": fl.Tensor(np.ones(3)), "grad": fl.Tensor(np.ones(2), requires_grad=True),
                     "param": nn.Parameter(fl.Tensor(np.full(2, 3.0, np.float32)))}),
        ("empty", [{}, [], ()]),
    ])
    buf = io.BytesIO()
    fl.save(obj, buf)
    buf.seek(0)
    loaded = fl.load(buf)
    _same(loaded, obj)
    assert isinstance(loaded["tensors"]["param"], nn.Parameter)


def test_unsupported_values_raise_type_error_naming_where():
    with pytest.raises(TypeError, match=r"obj\['bad'\]\[1\] of type object"):
        fl.save({"bad": [1, object()]}, io.BytesIO())
    with pytest.raises(TypeError, match="dtype object"):
        fl.save({"x": np.array([1, "a"], dtype=object)}, io.BytesIO())
    with pytest.raises(TypeError, match="dict key"):
        fl.save({frozenset(): 1}, io.BytesIO())


class _Exploit:
    ran = []

    def __reduce__(self):
        return (_Exploit.ran.append, ("executed",))


def test_loading_pickled_data_is_refused_and_never_executes_it(tmp_path):
    # an archive that looks like ours but whose array entry is a pickled object array
    path = tmp_path / "evil.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = _Exploit()
    structure = np.array('{"format": "fastlayers", "version": 1, "root": {"$": "ndarray", "array": "a0"}}')
    np.savez(path, a0=evil, __structure__=structure)
    with pytest.raises(ValueError, match="pickled data"):
        fl.load(path)
    # a plain pickle, and a pickled .npy
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"x": _Exploit()}))
    with pytest.raises(ValueError, match="pickled data"):
        fl.load(tmp_path / "evil.pkl")
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    with pytest.raises(ValueError, match="pickled data"):
        fl.load(tmp_path / "evil.npy")
    # a torch checkpoint (a zip of pickles)
    torch.save({"w": torch.ones(2)}, tmp_path / "torch.pt")
    with pytest.raises(ValueError, match=r"torch.load\(\.\.\., weights_only=True\)"):
        fl.load(tmp_path / "torch.pt")
    assert _Exploit.ran == []


def test_malformed_files_raise_value_error(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="not a file written by fastlayers.save"):
        fl.load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match="single .npy array"):
        fl.load(tmp_path / "one.npy")
    np.savez(tmp_path / "v9.npz", __structure__=np.array('{"format": "fastlayers", "version": 9, "root": 1}'))
    with pytest.raises(ValueError, match="version 9"):
        fl.load(tmp_path / "v9.npz")
    np.savez(tmp_path / "ref.npz", __structure__=np.array(
        '{"format": "fastlayers", "version": 1, "root": {"$": "ndarray", "array": "a7"}}'))
    with pytest.raises(ValueError, match="missing array 'a7'"):
        fl.load(tmp_path / "ref.npz")
    with zipfile.ZipFile(tmp_path / "junk.npz", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a file written by fastlayers.save"):
        fl.load(tmp_path / "junk.npz")


def test_torch_saved_state_dict_comes_in_through_torch_load_weights_only(tmp_path):
    ref = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.BatchNorm1d(5),
                              torch.nn.Linear(5, 2)).double()  # float64 values cast into our float32
    torch.save(ref.state_dict(), tmp_path / "ref.pt")
    state = torch.load(tmp_path / "ref.pt", weights_only=True)
    ours = _model()
    ours.load_state_dict({k: v.numpy() for k, v in state.items()})
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy().astype(v.dtype), err_msg=k)
    fl.save(ours.state_dict(), tmp_path / "ours.npz")
    _same(fl.load(tmp_path / "ours.npz"), ours.state_dict())
