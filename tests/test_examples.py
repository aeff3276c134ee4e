"""The demos (examples/train_digits.py, examples/dcgan_digits.py): whole models trained side by side with
PyTorch from identical weights on identical batches, the scripts themselves on tiny settings, the MNIST
IDX reader on files written here, and the PNG writer decoded back here."""
import gzip
import importlib.util
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import fastlayers as fl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    """An example script as a module; the environment it sets for OpenMP (OMP_WAIT_POLICY) is undone, so
    that it does not leak into the processes other tests start."""
    before = dict(os.environ)
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ.clear()
    os.environ.update(before)
    return module


digits_demo = _load("train_digits")
dcgan_demo = _load("dcgan_digits")


@pytest.fixture
def one_thread(threads):
    """Both libraries on one thread (restored afterwards): these small models gain nothing from a second
    thread, and on a shared machine waiting for one can be slow."""
    before = torch.get_num_threads()
    fl.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _torch_twin(ours, build):
    twin = build(torch.nn)
    twin.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in ours.state_dict().items()})
    return twin


def _assert_losses_agree(ours, theirs, what, tol=1e-4):
    ours, theirs = np.array(ours), np.array(theirs)
    err = np.abs(ours - theirs)
    worst = int(err.argmax())
    assert err.max() <= tol, (f"{what}: losses differ by up to {err.max():.3g} (step {worst}: ours {ours[worst]!r}, "
                              f"torch {theirs[worst]!r}; tolerance {tol})\nours  {ours}\ntorch {theirs}")


# ---------------------------------------------------------------------------------------------------------
# Whole models against torch


def test_lenet_on_digits_tracks_torch_for_30_sgd_momentum_steps_in_float32(one_thread):
    train_x, train_y, _, _ = digits_demo.load_digits_split(0.2, seed=0)
    train_x, _ = digits_demo.prepare(train_x, train_x[:1])
    train_y = train_y.astype(np.int64)
    fl.manual_seed(3)
    ours = digits_demo.lenet(fl.nn, image_size=8, dropout=0.0)
    theirs = _torch_twin(ours, lambda nn: digits_demo.lenet(nn, image_size=8, dropout=0.0))
    opt_ours = fl.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    losses_ours, losses_theirs = [], []
    for _ in range(30):
        index = rng.choice(len(train_x), 32, replace=False)
        x, y = train_x[index], train_y[index]
        opt_ours.zero_grad()
        loss = fl.nn.functional.cross_entropy(ours(fl.from_numpy(x)), fl.from_numpy(y))
        loss.backward()
        opt_ours.step()
        losses_ours.append(loss.item())
        opt_theirs.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt_theirs.step()
        losses_theirs.append(loss.item())
    _assert_losses_agree(losses_ours, losses_theirs, "LeNet, 30 SGD(momentum=0.9) steps, batch 32")
    assert losses_ours[-1] < 0.5 * losses_ours[0], f"the loss did not fall: {losses_ours}"
    # the batch-norm running statistics followed the same path too
    for name, buffer in ours.named_buffers():
        expected = dict(theirs.named_buffers())[name].numpy()
        np.testing.assert_allclose(buffer.numpy(), expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_dcgan_pair_tracks_torch_for_10_adam_steps_in_float32(one_thread):
    data = dcgan_demo.load_digits_scaled()
    fl.manual_seed(5)
    G, D = dcgan_demo.generator(fl.nn, latent=16, width=16), dcgan_demo.discriminator(fl.nn, width=16)
    dcgan_demo.dcgan_init(G, fl)
    dcgan_demo.dcgan_init(D, fl)
    tG = _torch_twin(G, lambda nn: dcgan_demo.generator(nn, latent=16, width=16))
    tD = _torch_twin(D, lambda nn: dcgan_demo.discriminator(nn, width=16))
    adam = dict(lr=2e-3, betas=(0.5, 0.999))
    ours = (G, D, fl.optim.Adam(G.parameters(), **adam), fl.optim.Adam(D.parameters(), **adam),
            fl.nn.BCEWithLogitsLoss(), fl.from_numpy)
    theirs = (tG, tD, torch.optim.Adam(tG.parameters(), **adam), torch.optim.Adam(tD.parameters(), **adam),
              torch.nn.BCEWithLogitsLoss(), torch.from_numpy)
    rng = np.random.default_rng(1)
    losses_ours, losses_theirs = [], []
    for _ in range(10):
        real = data[rng.choice(len(data), 24, replace=False)]
        noise = rng.standard_normal((24, 16, 1, 1), dtype=np.float32)
        losses_ours.append(dcgan_demo.train_step(*ours[:5], real, noise, ours[5]))
        losses_theirs.append(dcgan_demo.train_step(*theirs[:5], real, noise, theirs[5]))
    _assert_losses_agree(losses_ours, losses_theirs, "DCGAN (discriminator, generator) losses, 10 Adam steps")
    with fl.no_grad(), torch.no_grad():
        noise = rng.standard_normal((4, 16, 1, 1), dtype=np.float32)
        np.testing.assert_allclose(G(fl.from_numpy(noise)).numpy(), tG(torch.from_numpy(noise)).numpy(),
                                   atol=1e-4, err_msg="generator output after 10 steps")


# ---------------------------------------------------------------------------------------------------------
# The scripts on tiny settings


def test_train_digits_script_runs_two_epochs_and_reports_its_history(capsys):
    history = digits_demo.main(["--epochs", "2", "--limit", "400", "--no-progress", "--threads", "1"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "400 training and 359 test images" in out
    (epochs,) = history.values()
    assert [h["epoch"] for h in epochs] == [1, 2]
    assert all(np.isfinite(h["train_loss"]) and h["seconds"] > 0 for h in epochs)
    assert epochs[-1]["test_acc"] > 0.5, epochs  # 10 classes: chance is 0.1


def test_train_digits_compare_torch_trains_both_from_the_same_weights(capsys, one_thread):
    history = digits_demo.main(["--epochs", "1", "--limit", "200", "--no-progress", "--compare-torch",
                                "--dropout", "0", "--threads", "1"])
    assert set(history) == {"fastlayers", "torch"}
    ours, theirs = history["fastlayers"][0], history["torch"][0]
    # no dropout: identical batches from identical weights give the same epoch up to float32 rounding
    assert abs(ours["train_loss"] - theirs["train_loss"]) < 1e-3, (ours, theirs)
    assert abs(ours["test_acc"] - theirs["test_acc"]) <= 2 / 359, (ours, theirs)
    assert "torch/fastlayers time ratio" in capsys.readouterr().out


def _write_idx(path, array, compress=False):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    array = np.asarray(array)
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


def _tiny_mnist(folder, n_train=96, n_test=40, seed=0):
    """Two classes that a CNN separates at once: a bright left or right half, on 28x28 uint8 images."""
    rng = np.random.default_rng(seed)
    sets = []
    for n in (n_train, n_test):
        labels = rng.integers(0, 2, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            image[:, 14 * label:14 * label + 14] += 200
        sets.append((images, labels))
    _write_idx(folder / "train-images-idx3-ubyte", sets[0][0])
    _write_idx(folder / "train-labels-idx1-ubyte.gz", sets[0][1], compress=True)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", sets[1][0], compress=True)
    _write_idx(folder / "t10k-labels-idx1-ubyte", sets[1][1])
    return sets


def test_read_idx_returns_the_arrays_written_in_mnists_format(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    counts = rng.integers(-2**31, 2**31 - 1, (3, 4)).astype(np.int32)
    _write_idx(tmp_path / "images", images)
    _write_idx(tmp_path / "counts.gz", counts, compress=True)
    np.testing.assert_array_equal(digits_demo.read_idx(str(tmp_path / "images")), images)
    read = digits_demo.read_idx(str(tmp_path / "counts.gz"))
    assert read.dtype == np.int32 and read.dtype.isnative
    np.testing.assert_array_equal(read, counts)


def test_read_idx_rejects_a_file_that_is_not_idx_or_is_truncated(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="not an IDX file"):
        digits_demo.read_idx(str(tmp_path / "bad"))
    _write_idx(tmp_path / "short", np.zeros((4, 3), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-2])
    with pytest.raises(ValueError, match="expected 24"):
        digits_demo.read_idx(str(tmp_path / "short"))


def test_train_digits_reads_mnist_idx_files_and_learns_them(tmp_path, capsys):
    (train_images, train_labels), (test_images, test_labels) = _tiny_mnist(tmp_path)
    loaded = digits_demo.load_mnist(str(tmp_path))
    for got, expected in zip(loaded, (train_images, train_labels, test_images, test_labels)):
        np.testing.assert_array_equal(got, expected)
    history = digits_demo.main(["--mnist", str(tmp_path), "--epochs", "2", "--batch-size", "16", "--lr", "0.02",
                                "--no-progress", "--threads", "1"])
    assert "96 training and 40 test images of 28x28" in capsys.readouterr().out
    assert history["fastlayers"][-1]["test_acc"] >= 0.9, history


def test_load_mnist_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        digits_demo.load_mnist(str(tmp_path))


def _decode_gray_png(blob):
    """A strict reader of what encode_png promises (8-bit grayscale, filter 0): checks the signature and every
    chunk's CRC, returns the pixels."""
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind, payload = blob[pos + 4:pos + 8], blob[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", blob[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, f"bad CRC in chunk {kind}"
        chunks.append((kind, payload))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, compression, filtering, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


def test_encode_png_writes_the_pixels_back_exactly():
    image = np.arange(7 * 13, dtype=np.uint8).reshape(7, 13) * 3
    np.testing.assert_array_equal(_decode_gray_png(dcgan_demo.encode_png(image)), image)
    with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W\) or \(H, W, 3\)"):
        dcgan_demo.encode_png(np.zeros((2, 2, 4), np.uint8))


def test_sample_grid_places_each_image_enlarged_in_its_frame():
    images = np.stack([np.full((1, 2, 2), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    grid = dcgan_demo.sample_grid(images, columns=2, scale=3, border=1)
    assert grid.shape == (1 + 2 * 7, 1 + 2 * 7)
    assert (grid[1:7, 1:7] == 0).all() and (grid[1:7, 8:14] == 128).all() and (grid[8:14, 1:7] == 255).all()
    assert (grid[0] == 0).all() and (grid[:, 7] == 0).all() and (grid[8:14, 8:14] == 0).all()


def test_dcgan_script_runs_and_writes_a_png_grid_per_epoch(tmp_path):
    result = dcgan_demo.main(["--epochs", "2", "--limit", "96", "--batch-size", "32", "--width", "8",
                              "--latent", "8", "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert all(np.isfinite(h["loss_d"]) and np.isfinite(h["loss_g"]) for h in result["history"])
    assert [Path(p).name for p in result["pngs"]] == ["epoch_001.png", "epoch_002.png"]
    pixels = _decode_gray_png(Path(result["pngs"][-1]).read_bytes())
    assert pixels.shape == (1 + 8 * 33, 1 + 8 * 33)  # 8x8 samples of 8x8 pixels, enlarged 4x, 1-pixel frames
    assert pixels.std() > 0


# ---------------------------------------------------------------------------------------------------------
# The whole-model benchmark cases (bench/end_to_end.py through bench/compare.py): the harness, not speed

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_compare_runs_the_end_to_end_cases_each_in_its_mode_and_matches_torch(tmp_path):
    import json
    import subprocess
    import sys

    table = {"end_to_end": [
        {"name": "lenet_train_step", "about": "LeNet; cross-entropy; SGD step; batch 3 of 1x28x28"},
        {"name": "lenet_infer_b2"},
        {"name": "dcgan_generator_step", "about": "generator forward+backward; batch 2"}]}
    (tmp_path / "table.json").write_text(json.dumps(table))
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(BENCH / "compare.py"), "--table", str(tmp_path / "table.json"),
                           "--ops", "end_to_end", "--threads", "1", "--reps", "1", "--warmup", "0", "--no-peak",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"compare.py exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    doc = json.loads(out.read_text())
    rows = {(r["case"], r["mode"]): r for r in doc["results"]}
    assert set(rows) == {("lenet_train_step", "fwd+bwd"), ("lenet_infer_b2", "fwd"),
                         ("dcgan_generator_step", "fwd+bwd")}, sorted(rows)
    for (case, mode), row in rows.items():
        assert not row["mismatch"], (case, mode, row["max_abs_diff"])
        assert row["ours_ms"] > 0 and row["torch_ms"] > 0
    assert rows[("lenet_train_step", "fwd+bwd")]["spec"]["name"] == "lenet_train_step"
    assert "loss" in rows[("lenet_train_step", "fwd+bwd")]["max_abs_diff"]
    assert {"grad_0.weight", "grad_9.weight"} <= set(rows[("dcgan_generator_step", "fwd+bwd")]["max_abs_diff"])
    assert "lenet_mb3" in rows[("lenet_train_step", "fwd+bwd")]["descriptor"]  # the batch read from 'about'
    assert "lenet_mb2" in rows[("lenet_infer_b2", "fwd")]["descriptor"]        # ... and from the name


def test_layer_call_overhead_table_times_every_layer_for_both_libraries(threads):
    import sys

    sys.path.insert(0, str(BENCH))
    try:
        import end_to_end
    finally:
        sys.path.remove(str(BENCH))
    before = torch.get_num_threads()
    try:
        rows = end_to_end.overhead_table(threads=1, reps=1, inner=2)
    finally:
        torch.set_num_threads(before)
    labels = [label for label, _, _ in rows]
    assert len(rows) == 11 and labels[-1].startswith("LeNet b1 forward")
    assert all(ours > 0 and theirs > 0 for _, ours, theirs in rows)


def _readme_python_blocks():
    text = (EXAMPLES.parent / "README.md").read_text()
    blocks = text.split("```python\n")[1:]
    return [b.split("```", 1)[0] for b in blocks]


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_readme_python_example_runs_as_written(index):
    import subprocess
    import sys
    code = _readme_python_blocks()[index]
    path = os.pathsep.join([str(Path(fl.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=path), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"README python block {index} failed:\n{code}\n{r.stderr[-2000:]}"
