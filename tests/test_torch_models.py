"""fastlayers.torch.replace on whole models written with plain torch.nn: after the swap, the forward output, every
parameter gradient and 20 SGD training steps match the untouched model (float64 to 1e-10, float32 to 1e-4
relative)."""
import copy
import importlib.util
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as TF

import fastlayers
import fastlayers.torch as flt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------------------
# The models, in plain torch.nn


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """ResNet-18's layout (2-2-2-2 BasicBlocks) for 32x32 inputs: a 3x3 stem, no stem pooling."""

    def __init__(self, width=8, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        layers, cin = [], width
        for i, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class DCGANGenerator(nn.Module):
    def __init__(self, nz=8, ngf=4):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class DCGANDiscriminator(nn.Module):
    def __init__(self, ndf=4):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1)


def _double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, cin=3, cout=2, w=4):
        super().__init__()
        self.enc1, self.enc2 = _double_conv(cin, w), _double_conv(w, 2 * w)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(2 * w, 4 * w)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = _double_conv(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = _double_conv(2 * w, w)
        self.head = nn.Conv2d(w, cout, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


# (name, model factory, input shape, loss(output, target), target factory)
def _ce(out, t):
    return TF.cross_entropy(out, t)


MODELS = {
    "lenet": (LeNet, (4, 1, 28, 28), _ce, lambda g: torch.randint(0, 10, (4,), generator=g)),
    "resnet18": (ResNet18, (4, 3, 32, 32), _ce, lambda g: torch.randint(0, 10, (4,), generator=g)),
    "dcgan_generator": (DCGANGenerator, (2, 8, 1, 1), TF.mse_loss,
                        lambda g: torch.rand(2, 3, 32, 32, generator=g) * 2 - 1),
    "dcgan_discriminator": (DCGANDiscriminator, (2, 3, 32, 32), TF.binary_cross_entropy,
                            lambda g: torch.tensor([1.0, 0.0])),
    "unet": (UNet, (2, 3, 16, 16), TF.mse_loss, lambda g: torch.randn(2, 2, 16, 16, generator=g)),
}
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


@pytest.fixture(autouse=True)
def one_thread():
    """One thread on both sides: on a shared 2-core machine spinning OpenMP teams slow these whole-model runs down
    by an order of magnitude; the results do not depend on it (thread independence is tested per op)."""
    before = torch.get_num_threads(), fastlayers.get_num_threads()
    torch.set_num_threads(1)
    fastlayers.set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    fastlayers.set_num_threads(before[1])


def _pair(name, dtype):
    factory = MODELS[name][0]
    torch.manual_seed(0)
    ref = factory().to(dtype)
    ours = flt.replace(copy.deepcopy(ref))
    return ref, ours


def _rel_err(ours, ref, scale=0.0):
    """Largest error relative to max|ref|, floored at 1e-2 * scale: some gradients are zero up to rounding (a
    convolution's bias ahead of batch norm), so they are compared on the scale of the model's gradients."""
    return ((ours - ref).abs().max() / ref.abs().max().clamp_min(max(1e-2 * scale, 1e-30))).item()


def _assert_close(ours, ref, what, dtype, scale=0.0):
    err = _rel_err(ours.detach(), ref.detach(), scale)
    assert err <= TOL[dtype], f"{what}: largest error relative to max|torch| {err:.3g} > {TOL[dtype]:g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(MODELS))
def test_replaced_model_forward_and_gradients_match_torch(name, dtype):
    ref, ours = _pair(name, dtype)
    report = ours.fastlayers_report
    assert report.swapped, f"{name}: nothing was swapped"
    assert not report.left, f"{name}: unexpectedly left: {report.left}"
    _, shape, loss_fn, target = MODELS[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=dtype)
    t = target(g)
    t = t.to(dtype) if t.is_floating_point() else t
    for model in (ref, ours):
        model.train()
    out_ref, out = ref(x), ours(x)
    _assert_close(out, out_ref, f"{name} forward", dtype)
    loss_fn(out_ref, t).backward()
    loss_fn(out, t).backward()
    scale = max(p.grad.abs().max().item() for p in ref.parameters())
    for (pname, p_ref), (_, p) in zip(ref.named_parameters(), ours.named_parameters()):
        _assert_close(p.grad, p_ref.grad, f"{name} grad of {pname}", dtype, scale)
    for (bname, b_ref), (_, b) in zip(ref.named_buffers(), ours.named_buffers()):
        if b_ref.is_floating_point():
            _assert_close(b, b_ref, f"{name} buffer {bname} after a training step", dtype)
        else:
            assert torch.equal(b, b_ref), f"{name} buffer {bname}: {b} != {b_ref}"
    # Evaluation mode: running statistics in use.
    ref.eval()
    ours.eval()
    with torch.no_grad():
        _assert_close(ours(x), ref(x), f"{name} eval forward", dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(MODELS))
def test_replaced_model_trains_like_torch_for_20_sgd_steps(name, dtype):
    ref, ours = _pair(name, dtype)
    _, shape, loss_fn, target = MODELS[name]
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.5)
    opt = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.5)
    g = torch.Generator().manual_seed(2)
    batches = []
    for _ in range(4):
        t = target(g)
        batches.append((torch.randn(shape, generator=g, dtype=dtype), t.to(dtype) if t.is_floating_point() else t))
    losses_ref, losses = [], []
    for step in range(20):
        x, t = batches[step % len(batches)]
        for model, opt_, losses_ in ((ref, opt_ref, losses_ref), (ours, opt, losses)):
            opt_.zero_grad()
            loss = loss_fn(model(x), t)
            loss.backward()
            opt_.step()
            losses_.append(loss.item())
    # Rounding differences (any two float32 implementations have them) grow as training feeds them back:
    # float32 agrees to 1e-4 over the first 10 steps and to 1e-2 over all 20 (measured: ~1e-7 at first, ~2e-3
    # by step 20 on ResNet-18); float64 stays far below its tolerance throughout.
    checks = [(20, 1e-9)] if dtype == torch.float64 else [(10, 1e-4), (20, 1e-2)]
    for steps, tol in checks:
        worst = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses[:steps], losses_ref[:steps]))
        assert worst <= tol, (f"{name} {dtype}: losses of the first {steps} steps differ by {worst:.3g} relative "
                              f"(> {tol:g}):\nours  {losses}\ntorch {losses_ref}")
    # The 4 batches cycle: the last pass over them must have a lower loss than the first.
    assert sum(losses_ref[-4:]) < sum(losses_ref[:4]), f"{name}: training did not reduce the loss: {losses_ref}"


def test_example_script_runs_on_random_data(capsys):
    """examples/torch_dropin.py: a typical MNIST-style training script plus one replace() line."""
    spec = importlib.util.spec_from_file_location("torch_dropin", os.path.join(REPO, "examples", "torch_dropin.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--fake-data", "--epochs", "1", "--batches", "3", "--batch-size", "16"])
    out = capsys.readouterr().out
    assert "module(s) swapped" in out and "swapped conv1: Conv2d" in out, out
    assert "Train Epoch: 1" in out and "Test set: Average loss" in out, out
