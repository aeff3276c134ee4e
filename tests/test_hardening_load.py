"""fastlayers.load on untrusted files: crafted archives (a ~1 MB zip bomb inflating to 1 GiB, .npy headers
claiming more data than the entry holds, a structure nested past any real state dict, archives over the
caller's byte limit) are refused with a ValueError naming the limit, within bounded memory (measured with
tracemalloc: nothing is inflated or allocated before the checks), and nothing executes."""
import io
import json
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import fastlayers as fl
import fastlayers.serialization as serialization


def _npy_header(shape, dtype="<f4"):
    """The bytes of a .npy version 1.0 header for an array of `shape` (the data not included)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _structure(root):
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps({"format": "fastlayers", "version": 1, "root": root})))
    return buf.getvalue()


def _bounded_load(path, limit_mb=32, **kw):
    """fl.load(path) must raise ValueError; returns (message, peak MiB traced while trying)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            fl.load(path, **kw)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < limit_mb, f"fastlayers.load used {peak:.0f} MiB refusing {path} (limit {limit_mb} MiB)"
    return str(err.value), peak


def _deflated_zeros(header, n_chunks, chunk=16 << 20):
    """(raw deflate stream, crc32, size) of header + n_chunks * chunk zero bytes, built from one compressed
    chunk: after a full flush the compressor starts afresh, so every chunk compresses to the same bytes."""
    rle = lambda: zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)  # ~1000:1 on zeros, and fast
    c = rle()
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    c = rle()
    body = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    tail = rle().flush(zlib.Z_FINISH)  # an empty final block
    crc = zlib.crc32(header)
    zeros = bytes(chunk)
    for _ in range(n_chunks):
        crc = zlib.crc32(zeros, crc)
    return head + body * n_chunks + tail, crc, len(header) + n_chunks * chunk


def _zip(members):
    """A zip archive from (name, method, data, crc, size) tuples, written by hand (method 8: deflated)."""
    import struct
    out, central = bytearray(), bytearray()
    for name, method, data, crc, size in members:
        name = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(name), 0)
        out += name + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                               len(name), 0, 0, 0, 0, 0, offset) + name
    start = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0)
    return bytes(out)


def test_zip_bomb_of_one_gib_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.npz"
    structure = _structure({"$": "ndarray", "array": "a0"})
    bomb, crc, size = _deflated_zeros(_npy_header((2**28,)), 64)  # a float32 array of 1 GiB, all zeros
    path.write_bytes(_zip([("__structure__.npy", 0, structure, zlib.crc32(structure), len(structure)),
                           ("a0.npy", 8, bomb, crc, size)]))
    assert path.stat().st_size < 2 << 20 and size > 1 << 30, (path.stat().st_size, size)
    with zipfile.ZipFile(path) as z:  # an honest bomb: the member does inflate to zeros, 1 GiB of them
        assert z.getinfo("a0.npy").file_size == size
        with z.open("a0.npy") as member:
            member.read(len(_npy_header((2**28,))))
            assert member.read(1 << 20) == bytes(1 << 20)
    message, _ = _bounded_load(path)
    assert "a0.npy" in message and "MAX_INFLATION" in message, message


def test_npy_header_claiming_more_than_its_entry_is_refused_before_allocating(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as z:  # stored: no inflation, only a header that lies
        z.writestr("__structure__.npy", _structure({"$": "ndarray", "array": "a0"}))
        z.writestr("a0.npy", _npy_header((2**40,)) + bytes(16))
    message, _ = _bounded_load(path)
    assert "declares shape" in message and "a0" in message, message


@pytest.mark.parametrize("depth", [serialization.MAX_DEPTH + 1, 200_000])
def test_structure_nested_too_deep_is_refused(tmp_path, depth):
    path = tmp_path / "deep.npz"
    text = json.dumps({"format": "fastlayers", "version": 1, "root": None})
    nested = '{"$": "list", "items": [' * depth + "null" + "]}" * depth
    text = text.replace('"root": null', '"root": ' + nested)
    buf = io.BytesIO()
    np.save(buf, np.array(text))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__structure__.npy", buf.getvalue())
    message, _ = _bounded_load(path, limit_mb=64)
    assert "nest" in message, message


def test_structure_nested_at_the_limit_loads(tmp_path):
    obj = None
    for _ in range(serialization.MAX_DEPTH):
        obj = [obj]
    fl.save(obj, tmp_path / "ok.npz")
    assert fl.load(tmp_path / "ok.npz") == obj


def test_structure_entry_over_its_limit_is_refused(tmp_path, monkeypatch):
    fl.save({"w": np.ones(3, np.float32), "name": "x" * 10_000}, tmp_path / "big.npz")
    monkeypatch.setattr(serialization, "MAX_STRUCTURE_BYTES", 4096)
    message, _ = _bounded_load(tmp_path / "big.npz")
    assert "MAX_STRUCTURE_BYTES" in message, message


def test_max_bytes_refuses_a_file_over_the_callers_limit_and_a_larger_one_loads_it(tmp_path):
    state = {"w": np.arange(1000, dtype=np.float32)}
    fl.save(state, tmp_path / "s.npz")
    message, _ = _bounded_load(tmp_path / "s.npz", max_bytes=1000)
    assert "max_bytes=1000" in message, message
    np.testing.assert_array_equal(fl.load(tmp_path / "s.npz", max_bytes=10_000)["w"], state["w"])


def test_members_declaring_more_than_the_file_holds_are_refused_by_the_total(tmp_path):
    # stored members (no ratio to check) whose declared sizes claim far more than the file holds
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__structure__.npy", _structure(None))
        for i in range(8):
            z.writestr(f"a{i}.npy", np.random.default_rng(i).bytes(1 << 16))  # incompressible, stored
    # rewrite the declared sizes of the stored members to claim 1 GiB each
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if i.filename.startswith("a")]
    for info in infos:  # local header file_size at offset 22, central directory entries patched below
        off = info.header_offset + 22
        data[off:off + 4] = (1 << 30).to_bytes(4, "little")
    cd = data.rfind(b"PK\x05\x06")
    cd_start = int.from_bytes(data[cd + 16:cd + 20], "little")
    pos = cd_start
    while data[pos:pos + 4] == b"PK\x01\x02":
        name_len = int.from_bytes(data[pos + 28:pos + 30], "little")
        extra_len = int.from_bytes(data[pos + 30:pos + 32], "little")
        comment_len = int.from_bytes(data[pos + 32:pos + 34], "little")
        if data[pos + 46:pos + 46 + name_len].startswith(b"a"):
            data[pos + 24:pos + 28] = (1 << 30).to_bytes(4, "little")
        pos += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))
    message, _ = _bounded_load(path)
    assert "MAX_INFLATION" in message, message


def test_a_saved_state_dict_still_round_trips(tmp_path):
    state = {"conv.weight": fl.Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)), "step": 3,
             "nested": {"a": [1, 2.5, None, "s"], "b": (np.float64(2.0),)}}
    fl.save(state, tmp_path / "s.npz")
    got = fl.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(got["conv.weight"].numpy(), state["conv.weight"].numpy())
    assert got["step"] == 3 and got["nested"]["a"] == [1, 2.5, None, "s"] and got["nested"]["b"] == (2.0,)
