"""fastlayers.utils: MNIST from local IDX files (bounded reading, batches in one indexing call through the
DataLoader), and make_grid / save_image checked by an independent PNG decoder (Pillow) and torchvision's rules."""
import gzip
import io
import struct

import numpy as np
import pytest
from PIL import Image

import fastlayers as fl
from fastlayers.utils import make_grid, save_image
from fastlayers.utils.data import MNIST, DataLoader, read_idx


def _write_idx(path, array, compress=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    blob = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(blob)


def _fake_mnist(folder, n_train=20, n_test=7):
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", images, compress=True)
        _write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
        out[split] = (images, labels)
    return out


def test_mnist_reads_local_idx_files_as_torchvision_to_tensor_would(tmp_path):
    data = _fake_mnist(tmp_path)
    train, test = MNIST(tmp_path, train=True), MNIST(tmp_path, train=False)
    assert (len(train), len(test)) == (20, 7)
    image, label = train[3]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    np.testing.assert_array_equal(image[0], data["train"][0][3].astype(np.float32) / 255)
    assert label == int(data["train"][1][3]) and isinstance(label, int)
    np.testing.assert_array_equal(test.targets, data["t10k"][1])


def test_mnist_names_the_missing_file_and_never_downloads(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        MNIST(tmp_path)


def test_dataloader_fetches_a_batch_with_one_getitems_call(tmp_path):
    _fake_mnist(tmp_path)
    ds = MNIST(tmp_path)
    calls = []
    original = ds.__getitems__
    ds.__getitems__ = lambda idx: calls.append(list(idx)) or original(idx)
    batches = list(DataLoader(ds, batch_size=8))
    assert calls == [list(range(0, 8)), list(range(8, 16)), list(range(16, 20))]
    x, y = batches[0]
    assert x.shape == (8, 1, 28, 28) and y.shape == (8,)
    np.testing.assert_array_equal(x.numpy()[5], ds[5][0])
    np.testing.assert_array_equal(y.numpy(), ds.targets[:8])


def test_idx_reader_refuses_a_file_declaring_more_than_the_limit_without_inflating_it(tmp_path):
    # a gzip whose header declares 60000 x 28 x 28 images but holds a few bytes: refused by size, never read
    blob = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 60000, 28, 28)
    (tmp_path / "big.gz").write_bytes(gzip.compress(blob + b"\0" * 10))
    with pytest.raises(ValueError, match="over the limit"):
        read_idx(tmp_path / "big.gz", max_bytes=1 << 20)
    with pytest.raises(ValueError, match="expected"):
        read_idx(tmp_path / "big.gz")
    _write_idx(tmp_path / "x", np.zeros((2, 3), np.uint8))
    (tmp_path / "y").write_bytes((tmp_path / "x").read_bytes() + b"junk")
    with pytest.raises(ValueError, match="at least"):
        read_idx(tmp_path / "y")


def _decode(blob):
    with Image.open(io.BytesIO(blob)) as im:
        im.load()
        return im.mode, np.asarray(im)


def test_make_grid_lays_images_out_as_torchvision():
    x = np.stack([np.full((1, 2, 3), v, np.float32) for v in (0.1, 0.5, 0.9)])
    grid = make_grid(x, nrow=2, padding=1, pad_value=0.25)
    assert grid.shape == (3, 1 + 2 * 3, 1 + 2 * 4)  # one channel becomes three
    assert np.all(grid[:, 1:3, 1:4] == np.float32(0.1)) and np.all(grid[:, 1:3, 5:8] == np.float32(0.5))
    assert np.all(grid[:, 4:6, 1:4] == np.float32(0.9)) and np.all(grid[:, 4:6, 5:8] == 0.25)
    assert np.all(grid[:, 0] == 0.25) and np.all(grid[:, :, 4] == 0.25)
    norm = make_grid(np.array([[[[-2.0, 0.0], [2.0, 4.0]]]]), normalize=True)
    np.testing.assert_allclose(norm[0], [[0, 1 / 3], [2 / 3, 1]])


def test_save_image_writes_grayscale_and_rgb_pngs_that_pillow_reads_back(tmp_path):
    rng = np.random.default_rng(1)
    gray = rng.random((5, 1, 4, 6)).astype(np.float32)
    save_image(fl.tensor(gray), tmp_path / "gray.png", nrow=3, padding=2)
    mode, pixels = _decode((tmp_path / "gray.png").read_bytes())
    expected = np.clip(make_grid(gray, nrow=3, padding=2)[0] * 255 + 0.5, 0, 255).astype(np.uint8)
    assert mode == "L" and pixels.shape == (2 + 2 * 6, 2 + 3 * 8)
    np.testing.assert_array_equal(pixels, expected)
    rgb = rng.random((2, 3, 4, 5)).astype(np.float32)
    buffer = io.BytesIO()
    save_image(rgb, buffer, padding=0)
    mode, pixels = _decode(buffer.getvalue())
    assert mode == "RGB" and pixels.shape == (4, 10, 3)
    np.testing.assert_array_equal(pixels[:, 5:], np.clip(rgb[1].transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8))
