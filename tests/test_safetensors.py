"""fastlayers.save_safetensors / load_safetensors: interchangeable with the safetensors library's torch files
both ways (no torch or pickle in fastlayers' reader), exact round trips, and crafted files refused in bounded
memory with a ValueError."""
import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import fastlayers as fl
from fastlayers import nn


def _model():
    fl.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


def test_state_dict_round_trips_exactly_and_loads_into_a_model(tmp_path):
    model = _model()
    fl.save_safetensors(model.state_dict(), tmp_path / "m.safetensors", metadata={"format": "pt"})
    loaded = fl.load_safetensors(tmp_path / "m.safetensors")
    state = model.state_dict()
    assert set(loaded) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(loaded[k], v.numpy())
        assert loaded[k].dtype == v.numpy().dtype
    other = _model()
    other.load_state_dict(loaded)


def test_files_written_here_load_in_torch_and_torch_files_load_here(tmp_path):
    ours = {"w": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "d": np.linspace(0, 1, 5),
            "i": np.array([1, -2, 3], np.int64), "h": np.array([0.5, -1.25], np.float16), "b": np.array([True, False]),
            "empty": np.zeros((0, 3), np.float32)}
    fl.save_safetensors(ours, tmp_path / "ours.safetensors")
    read_by_torch = load_file(tmp_path / "ours.safetensors")
    for k, v in ours.items():
        np.testing.assert_array_equal(read_by_torch[k].numpy(), v)
    theirs = {"conv.weight": torch.randn(4, 3, 3, 3), "bn.running_var": torch.rand(4, dtype=torch.float64),
              "bn.num_batches_tracked": torch.tensor(7)}
    save_file(theirs, tmp_path / "theirs.safetensors", metadata={"a": "b"})
    read_here = fl.load_safetensors(tmp_path / "theirs.safetensors")
    for k, v in theirs.items():
        np.testing.assert_array_equal(read_here[k], v.numpy())


def _crafted(tmp_path, header, data=b""):
    text = json.dumps(header).encode()
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize("header, data, message", [
    ({"x": {"dtype": "F32", "shape": [1 << 30, 1 << 30], "data_offsets": [0, 8]}}, b"\0" * 8, "needs"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1 << 40]}}, b"\0" * 8, "byte range"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "overlap"),
    ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b"", "bad shape"),
    ({"x": {"shape": [1]}}, b"", "lacks"),
])
def test_crafted_files_are_refused_before_any_allocation(tmp_path, header, data, message):
    with pytest.raises(ValueError, match=message):
        fl.load_safetensors(_crafted(tmp_path, header, data))


def test_a_header_length_beyond_the_file_and_a_bfloat16_entry_are_refused(tmp_path):
    path = tmp_path / "huge_header.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 60) + b"{}")
    with pytest.raises(ValueError, match="header length"):
        fl.load_safetensors(path)
    with pytest.raises(TypeError, match="BF16"):
        fl.load_safetensors(_crafted(tmp_path, {"x": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}},
                                     b"\0\0"))
    with pytest.raises(ValueError, match="max_bytes"):
        fl.load_safetensors(_crafted(tmp_path, {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                                     b"\0" * 16), max_bytes=8)
