"""fastlayers.torch's drop-in modules and functional calls against torch.nn: forward and every gradient in float32
and float64, finite differences (gradcheck) in float64, non-contiguous and channels_last input, modes, state_dict
both ways, and the errors (dtype, device, double backward)."""
import copy
import io
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as TF

import fastlayers.torch as flt
import fastlayers.torch.functional as FF

# (id, factory of the torch.nn module, input shape). The drop-in is built by the same factory on fastlayers.torch
# (same constructor), then loaded with the torch module's state_dict.
CASES = [
    ("conv1d", lambda nn: nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9)),
    ("conv1d_same_dil2", lambda nn: nn.Conv1d(2, 4, 4, padding="same", dilation=2), (2, 2, 8)),
    ("conv1d_circular", lambda nn: nn.Conv1d(2, 3, 3, padding=2, padding_mode="circular"), (2, 2, 7)),
    ("conv2d", lambda nn: nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), (2, 3, 9, 8)),
    ("conv2d_groups_nobias", lambda nn: nn.Conv2d(4, 6, 3, groups=2, bias=False), (2, 4, 7, 6)),
    ("conv2d_same_even", lambda nn: nn.Conv2d(2, 3, 4, padding="same"), (1, 2, 7, 6)),
    ("conv2d_reflect", lambda nn: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 2, 6, 5)),
    ("conv2d_replicate", lambda nn: nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="replicate"), (2, 2, 6, 5)),
    ("conv2d_circular", lambda nn: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (2, 2, 6, 5)),
    ("conv2d_unbatched", lambda nn: nn.Conv2d(2, 3, 3), (2, 6, 5)),
    ("conv_transpose1d", lambda nn: nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1, output_padding=1), (2, 3, 5)),
    ("conv_transpose2d", lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, groups=1),
     (2, 4, 4, 5)),
    ("conv_transpose2d_groups_dil", lambda nn: nn.ConvTranspose2d(4, 2, 3, stride=1, groups=2, dilation=2),
     (2, 4, 4, 3)),
    ("max_pool1d", lambda nn: nn.MaxPool1d(3, stride=2, padding=1), (2, 3, 9)),
    ("max_pool2d", lambda nn: nn.MaxPool2d(2), (2, 3, 8, 6)),
    ("max_pool2d_ceil_dil", lambda nn: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
     (2, 2, 9, 8)),
    ("avg_pool1d", lambda nn: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 9)),
    ("avg_pool2d", lambda nn: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    ("avg_pool2d_divisor", lambda nn: nn.AvgPool2d(2, divisor_override=3), (2, 3, 6, 6)),
    ("adaptive_avg_pool2d", lambda nn: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    ("adaptive_max_pool2d", lambda nn: nn.AdaptiveMaxPool2d(3), (2, 3, 7, 8)),
    ("upsample_nearest", lambda nn: nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    ("upsample_bilinear", lambda nn: nn.Upsample(size=(7, 9), mode="bilinear", align_corners=False), (2, 3, 4, 5)),
    ("upsample_bilinear_ac", lambda nn: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
     (2, 2, 4, 4)),
    ("upsample_linear", lambda nn: nn.Upsample(scale_factor=2, mode="linear"), (2, 3, 5)),
    ("batch_norm1d_2d", lambda nn: nn.BatchNorm1d(5), (4, 5)),
    ("batch_norm1d_3d", lambda nn: nn.BatchNorm1d(3, momentum=None), (4, 3, 5)),
    ("batch_norm2d", lambda nn: nn.BatchNorm2d(3), (2, 3, 4, 5)),
    ("batch_norm2d_noaffine", lambda nn: nn.BatchNorm2d(3, affine=False, track_running_stats=False), (2, 3, 4, 5)),
    ("group_norm", lambda nn: nn.GroupNorm(2, 6), (2, 6, 3, 4)),
    ("layer_norm", lambda nn: nn.LayerNorm((4, 5)), (2, 3, 4, 5)),
    ("layer_norm_nobias", lambda nn: nn.LayerNorm(5, bias=False), (2, 3, 5)),
    ("instance_norm1d", lambda nn: nn.InstanceNorm1d(3, affine=True), (2, 3, 6)),
    ("instance_norm2d", lambda nn: nn.InstanceNorm2d(3), (2, 3, 4, 5)),
    ("instance_norm2d_tracked", lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
     (2, 3, 4, 5)),
    ("local_response_norm", lambda nn: nn.LocalResponseNorm(3, alpha=0.1, beta=0.6, k=2.0), (2, 5, 3, 4)),
    ("relu", lambda nn: nn.ReLU(), (2, 3, 4)),
    ("relu6", lambda nn: nn.ReLU6(), (2, 3, 4)),
    ("leaky_relu", lambda nn: nn.LeakyReLU(0.2), (2, 3, 4)),
    ("prelu", lambda nn: nn.PReLU(3, init=0.3), (2, 3, 4)),
    ("prelu_shared", lambda nn: nn.PReLU(), (2, 3, 4)),
    ("elu", lambda nn: nn.ELU(0.7), (2, 3, 4)),
    ("selu", lambda nn: nn.SELU(), (2, 3, 4)),
    ("celu", lambda nn: nn.CELU(1.3), (2, 3, 4)),
    ("gelu", lambda nn: nn.GELU(), (2, 3, 4)),
    ("gelu_tanh", lambda nn: nn.GELU(approximate="tanh"), (2, 3, 4)),
    ("silu", lambda nn: nn.SiLU(), (2, 3, 4)),
    ("mish", lambda nn: nn.Mish(), (2, 3, 4)),
    ("softplus", lambda nn: nn.Softplus(beta=2.0, threshold=3.0), (2, 3, 4)),
    ("sigmoid", lambda nn: nn.Sigmoid(), (2, 3, 4)),
    ("tanh", lambda nn: nn.Tanh(), (2, 3, 4)),
    ("hardtanh", lambda nn: nn.Hardtanh(-0.5, 1.5), (2, 3, 4)),
    ("hardsigmoid", lambda nn: nn.Hardsigmoid(), (2, 3, 4)),
    ("hardswish", lambda nn: nn.Hardswish(), (2, 3, 4)),
    ("softmax", lambda nn: nn.Softmax(dim=1), (2, 5, 3)),
    ("log_softmax", lambda nn: nn.LogSoftmax(dim=-1), (2, 3, 6)),
    ("dropout_eval_p0", lambda nn: nn.Dropout(0.0), (2, 3, 4)),
    ("linear", lambda nn: nn.Linear(5, 3), (4, 5)),
    ("linear_3d_nobias", lambda nn: nn.Linear(4, 6, bias=False), (2, 3, 4)),
    ("linear_1d_input", lambda nn: nn.Linear(4, 2), (4,)),
    ("dropout2d_p0", lambda nn: nn.Dropout2d(0.0), (2, 3, 4, 4)),
]
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])


def _rel_err(ours, ref):
    return ((ours.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1e-6)).item()


# torch's own float64 CELU gradient is off by ~3e-8 from the exact exp(x / alpha) (ours is exact to rounding;
# test_functional_gradcheck_float64_single_input checks it by finite differences).
LOOSER = {"celu grad input": 1e-7}


def _check(ours, ref, what, dtype):
    assert ours.shape == ref.shape, f"{what}: shape {tuple(ours.shape)} != torch's {tuple(ref.shape)}"
    err = _rel_err(ours.detach(), ref.detach())
    tol = max(TOL[dtype], LOOSER.get(what, 0.0))
    assert err <= tol, f"{what}: largest error relative to max|torch| {err:.3g} > {tol:g}"


def _input(shape, dtype, seed=0):
    # Away from the activations' kinks and from ties in max pooling: distinct values with gaps.
    g = torch.Generator().manual_seed(seed)
    n = 1
    for s in shape:
        n *= s
    values = (torch.randperm(n, generator=g).to(dtype) - n / 2 + 0.5) * (4.0 / n)
    return values.reshape(shape)


def _pair(factory, dtype):
    torch.manual_seed(0)
    ref = factory(nn).to(dtype)
    ours = factory(flt).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _run_both(ref, ours, x, case, dtype):
    """Forward, backward of a fixed random grad_output, compare output, input grad, parameter grads, buffers."""
    xr = x.clone().requires_grad_()
    xo = x.clone().requires_grad_()
    yr, yo = ref(xr), ours(xo)
    _check(yo, yr, f"{case} forward", dtype)
    g = torch.randn(yr.shape, generator=torch.Generator().manual_seed(3), dtype=dtype).to(yr.device)
    yr.backward(g)
    yo.backward(g)
    _check(xo.grad, xr.grad, f"{case} grad input", dtype)
    for (name, pr), (_, po) in zip(ref.named_parameters(), ours.named_parameters()):
        _check(po.grad, pr.grad, f"{case} grad {name}", dtype)
    for (name, br), (_, bo) in zip(ref.named_buffers(), ours.named_buffers()):
        if br.is_floating_point():
            _check(bo, br, f"{case} buffer {name}", dtype)
        else:
            assert torch.equal(bo, br), f"{case} buffer {name}: {bo} != torch's {br}"


@DTYPES
@pytest.mark.parametrize("case,factory,shape", CASES, ids=[c[0] for c in CASES])
def test_dropin_matches_torch_forward_and_gradients(case, factory, shape, dtype):
    ref, ours = _pair(factory, dtype)
    assert isinstance(ours, type(ref)), f"{case}: the drop-in must subclass {type(ref).__name__}"
    assert list(ours.state_dict()) == list(ref.state_dict()), f"{case}: state_dict keys differ"
    x = _input(shape, dtype)
    _run_both(ref, ours, x, case, dtype)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        _check(ours(x), ref(x), f"{case} eval forward", dtype)


# channels_last makes a 4-D input's strides differ from the contiguous ones; a slice makes a gap.
LAYOUT_CASES = [c for c in CASES if c[0] in ("conv2d", "conv2d_reflect", "conv_transpose2d", "max_pool2d",
                                             "avg_pool2d", "adaptive_avg_pool2d", "upsample_bilinear",
                                             "batch_norm2d", "group_norm", "layer_norm", "instance_norm2d",
                                             "local_response_norm", "relu", "gelu", "softmax", "prelu")]


LAYOUTS = [(layout,) + c for c in LAYOUT_CASES for layout in ("channels_last", "strided")
           if layout == "strided" or len(c[2]) == 4]  # channels_last is a 4-D layout


@pytest.mark.parametrize("layout,case,factory,shape", LAYOUTS, ids=[f"{c[1]}-{c[0]}" for c in LAYOUTS])
def test_dropin_on_channels_last_and_strided_input(layout, case, factory, shape):
    dtype = torch.float64
    ref, ours = _pair(factory, dtype)
    if layout == "channels_last":
        x = _input(shape, dtype).to(memory_format=torch.channels_last)
        ref = ref.to(memory_format=torch.channels_last)
        ours = ours.to(memory_format=torch.channels_last)
    else:
        wide = list(shape)
        wide[-1] *= 2
        x = _input(tuple(wide), dtype)[..., ::2]
    assert not x.is_contiguous()
    _run_both(ref, ours, x, f"{case} {layout}", dtype)


GRADCHECK = [
    ("conv2d", lambda x, w, b: FF.conv2d(x, w, b, stride=2, padding=1, groups=2), (1, 4, 4, 5), (4, 2, 3, 3), (4,)),
    ("conv1d", lambda x, w, b: FF.conv1d(x, w, b, padding="same"), (2, 2, 6), (3, 2, 4), (3,)),
    ("conv_transpose2d", lambda x, w, b: FF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     (1, 2, 3, 3), (2, 3, 3, 3), (3,)),
    ("batch_norm", lambda x, w, b: FF.batch_norm(x, None, None, w, b, training=True), (3, 2, 3, 2), (2,), (2,)),
    ("group_norm", lambda x, w, b: FF.group_norm(x, 2, w, b), (2, 4, 3), (4,), (4,)),
    ("layer_norm", lambda x, w, b: FF.layer_norm(x, (3,), w, b), (2, 4, 3), (3,), (3,)),
    ("instance_norm", lambda x, w, b: FF.instance_norm(x, weight=w, bias=b), (2, 3, 4), (3,), (3,)),
    ("prelu", lambda x, w, b: FF.prelu(x, w) + b, (2, 3, 4), (3,), (4,)),
    ("linear", lambda x, w, b: FF.linear(x, w, b), (2, 3, 4), (5, 4), (5,)),
    ("linear_vector_weight_broadcast_bias", lambda x, w, b: FF.linear(x, w, b), (3, 4), (4,), (3,)),
    ("batch_instance_norm", lambda x, w, b: FF.batch_instance_norm(
        x, None, None, w, b, torch.full((2,), 0.3, dtype=torch.float64, requires_grad=True), training=True),
     (3, 2, 2, 3), (2,), (2,)),
]


@pytest.mark.parametrize("case,fn,xs,ws,bs", GRADCHECK, ids=[c[0] for c in GRADCHECK])
def test_functional_gradcheck_float64(case, fn, xs, ws, bs):
    g = torch.Generator().manual_seed(5)
    args = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in (xs, ws, bs)]
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-7), case


@pytest.mark.parametrize("op,kwargs", [
    ("max_pool2d", dict(kernel_size=2)), ("avg_pool2d", dict(kernel_size=3, stride=1, padding=1)),
    ("adaptive_avg_pool2d", dict(output_size=(2, 3))), ("adaptive_max_pool2d", dict(output_size=2)),
    ("interpolate", dict(scale_factor=2, mode="bilinear")), ("local_response_norm", dict(size=3)),
    ("softmax", dict(dim=1)), ("log_softmax", dict(dim=2)), ("mish", {}), ("elu", dict(alpha=0.5)), ("celu", dict(alpha=1.3)),
    ("maxout", dict(pieces=2)),
])
def test_functional_gradcheck_float64_single_input(op, kwargs):
    x = _input((2, 4, 4, 5), torch.float64, seed=7).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: getattr(FF, op)(t, **kwargs), (x,), eps=1e-6, atol=1e-7), op


def test_max_pool_indices_and_max_unpool_match_torch():
    x = _input((2, 3, 6, 7), torch.float64)
    out_r, idx_r = TF.max_pool2d(x, 2, return_indices=True)
    out_o, idx_o = flt.MaxPool2d(2, return_indices=True)(x)
    assert torch.equal(idx_o, idx_r) and torch.equal(out_o, out_r)
    out_r1, idx_r1 = TF.max_pool1d(x[:, :, 0], 3, stride=2, return_indices=True)
    _, idx_o1 = FF.max_pool1d(x[:, :, 0], 3, stride=2, return_indices=True)
    assert torch.equal(idx_o1, idx_r1), "max_pool1d indices differ from torch's"
    _, aidx_r = TF.adaptive_max_pool2d(x, 3, return_indices=True)
    _, aidx_o = FF.adaptive_max_pool2d(x, 3, return_indices=True)
    assert torch.equal(aidx_o, aidx_r), "adaptive_max_pool2d indices differ from torch's"
    a = out_r.clone().requires_grad_()
    b = out_r.clone().requires_grad_()
    ur = nn.MaxUnpool2d(2)(a, idx_r, output_size=x.shape)
    uo = flt.MaxUnpool2d(2)(b, idx_r, output_size=x.shape)
    assert torch.equal(uo, ur)
    g = torch.randn(ur.shape, dtype=torch.float64)
    ur.backward(g)
    uo.backward(g)
    assert torch.equal(b.grad, a.grad)


def test_maxout_and_batch_instance_norm_modules():
    m = flt.Maxout(2)
    x = _input((2, 6, 3), torch.float64)
    assert torch.equal(m(x), x.reshape(2, 3, 2, 3).amax(2))
    bin_ = flt.BatchInstanceNorm2d(3)
    assert sorted(bin_.state_dict()) == ["bias", "num_batches_tracked", "rho", "running_mean", "running_var",
                                         "weight"]
    assert torch.equal(bin_.rho.detach(), torch.ones(3))
    # rho = 1: pure batch norm, numbers and running statistics as torch's BatchNorm2d.
    ref = nn.BatchNorm2d(3)
    x = _input((2, 3, 4, 5), torch.float32)
    _check(bin_(x), ref(x), "batch_instance_norm rho=1 vs BatchNorm2d", torch.float32)
    _check(bin_.running_var, ref.running_var, "batch_instance_norm running_var", torch.float32)
    with torch.no_grad():
        bin_.rho.fill_(0.0)
    _check(bin_(x), TF.instance_norm(x, weight=bin_.weight, bias=bin_.bias), "batch_instance_norm rho=0",
           torch.float32)
    with torch.no_grad():
        bin_.rho.fill_(1.5)
    assert torch.equal(bin_.clip_rho_().rho.detach(), torch.ones(3))


def test_inplace_activation_overwrites_input_and_keeps_gradients():
    for ref_m, our_m in ((nn.ReLU(inplace=True), flt.ReLU(inplace=True)),
                         (nn.LeakyReLU(0.1, inplace=True), flt.LeakyReLU(0.1, inplace=True)),
                         (nn.ELU(inplace=True), flt.ELU(inplace=True)),
                         (nn.Hardswish(inplace=True), flt.Hardswish(inplace=True))):
        w = torch.linspace(-2, 2, 24, dtype=torch.float64).reshape(2, 3, 4).requires_grad_()
        h_r, h_o = w * 1.5, w * 1.5
        y_r, y_o = ref_m(h_r), our_m(h_o)
        assert y_o is h_o, f"{type(our_m).__name__}: in place must return its input"
        _check(y_o, y_r, f"{type(our_m).__name__} inplace forward", torch.float64)
        (g_r,) = torch.autograd.grad(y_r.square().sum(), w)
        (g_o,) = torch.autograd.grad(y_o.square().sum(), w)
        _check(g_o, g_r, f"{type(our_m).__name__} inplace grad", torch.float64)
    leaf = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        FF.relu(leaf, inplace=True)
    with torch.no_grad():
        t = torch.tensor([-1.0, 2.0])
        assert FF.relu(t, inplace=True) is t and t.tolist() == [0.0, 2.0]
        s = torch.tensor([[-1.0, 5.0], [3.0, -2.0]]).t()  # non-contiguous, in place
        FF.relu(s, inplace=True)
        assert s.tolist() == [[0.0, 3.0], [5.0, 0.0]]


def test_dropout_statistics_scaling_and_modes():
    torch.manual_seed(0)
    x = torch.ones(200, 500)
    for p in (0.2, 0.5, 0.8):
        y = FF.dropout(x, p)
        kept = (y != 0).double().mean().item()
        assert abs(kept - (1 - p)) < 0.01, f"dropout p={p}: kept fraction {kept:.4f}, expected {1 - p}"
        assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p))), f"dropout p={p}: scaling"
    assert torch.equal(FF.dropout(x, 1.0), torch.zeros_like(x))
    m = flt.Dropout(0.5).eval()
    assert m(x) is x or torch.equal(m(x), x)
    y = FF.dropout2d(torch.ones(100, 50, 3, 3), 0.5)
    per_channel = y.reshape(100, 50, 9)
    assert ((per_channel == 0).all(2) | (per_channel == 2).all(2)).all(), "dropout2d must drop whole channels"
    assert abs((per_channel[..., 0] == 0).double().mean().item() - 0.5) < 0.03
    # Gradient: the same mask and scale.
    xr = torch.randn(50, 40, requires_grad=True)
    y = FF.dropout(xr, 0.3)
    y.sum().backward()
    assert torch.allclose(xr.grad, (y.detach() != 0).float() / 0.7)
    with pytest.raises(ValueError, match="dropout probability"):
        FF.dropout(x, 1.5)


def test_state_dict_loads_both_ways_and_survives_torch_save():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.PReLU(4), nn.GroupNorm(2, 4), nn.LayerNorm(2))
    ours = nn.Sequential(flt.Conv2d(3, 4, 3), flt.BatchNorm2d(4), flt.PReLU(4), flt.GroupNorm(2, 4),
                         flt.LayerNorm(2))
    assert list(ours.state_dict()) == list(ref.state_dict())
    for (k, a), (_, b) in zip(ref.state_dict().items(), ours.state_dict().items()):
        assert a.shape == b.shape and a.dtype == b.dtype, k
    ours.train()(torch.randn(2, 3, 4, 4))  # moves running statistics
    buf = io.BytesIO()
    torch.save(ours.state_dict(), buf)
    buf.seek(0)
    ref.load_state_dict(torch.load(buf))
    for k, v in ours.state_dict().items():
        assert torch.equal(ref.state_dict()[k], v), k
    fresh = nn.Sequential(flt.Conv2d(3, 4, 3), flt.BatchNorm2d(4), flt.PReLU(4), flt.GroupNorm(2, 4),
                          flt.LayerNorm(2))
    fresh.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 4, 4)
    ref.eval()
    fresh.eval()
    _check(fresh(x), ref(x), "model reloaded from a torch state_dict", torch.float32)


def test_default_initialization_matches_torch():
    for name in ("Conv2d", "ConvTranspose2d", "BatchNorm2d", "PReLU", "LayerNorm", "GroupNorm"):
        args = {"Conv2d": (3, 4, 3), "ConvTranspose2d": (3, 4, 3), "BatchNorm2d": (4,), "PReLU": (),
                "LayerNorm": (5,), "GroupNorm": (2, 4)}[name]
        torch.manual_seed(0)
        ref = getattr(nn, name)(*args)
        torch.manual_seed(0)
        ours = getattr(flt, name)(*args)
        for (k, a), (_, b) in zip(ref.state_dict().items(), ours.state_dict().items()):
            assert torch.equal(a, b), f"{name}.{k}: default initialization differs from torch's"


def test_no_grad_and_inference_mode_record_nothing():
    conv = flt.Conv2d(2, 3, 3)
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    with torch.no_grad():
        y = conv(x)
    assert not y.requires_grad and y.grad_fn is None
    with torch.inference_mode():
        bn = flt.BatchNorm2d(3)
        y = bn(conv(x))
        z = flt.ReLU(inplace=True)(y)
    assert not z.requires_grad
    assert bn.num_batches_tracked.item() == 1
    y = conv(x)
    assert y.requires_grad and y.grad_fn is not None


def test_double_backward_is_a_clear_error():
    conv = flt.Conv2d(2, 3, 3)
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    y = conv(x).square().sum()
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.conv2d: double backward .*torch.nn.functional.conv2d"):
        torch.autograd.grad(y, x, create_graph=True)


def test_unsupported_dtype_and_device_are_clear_errors():
    conv = flt.Conv2d(2, 3, 3)
    # float16 / bfloat16 run on CUDA only; on the CPU they are refused with the fallback named.
    with pytest.raises(TypeError, match=r"conv2d: unsupported dtype torch.float16 on cpu .*torch.nn.functional.conv2d"):
        conv.half()(torch.randn(1, 2, 5, 5).half())
    with pytest.raises(TypeError, match=r"relu: unsupported dtype torch.int64"):
        FF.relu(torch.arange(4))
    with pytest.raises(TypeError, match="expected all tensors to have dtype"):
        FF.conv2d(torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3, dtype=torch.float64))
    # A device without fastlayers kernels (CUDA until its kernels are bound; 'meta' here, present in every build)
    # is refused, never copied to the CPU.
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.conv2d: meta tensors are not supported yet.*"
                                           r"nothing is copied"):
        FF.conv2d(torch.empty(1, 2, 5, 5, device="meta"), torch.empty(3, 2, 3, 3, device="meta"))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        FF.conv2d([1.0], torch.randn(3, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d"):
        FF.conv2d(torch.randn(2, 5, 5), torch.randn(3, 2, 3))
    with pytest.raises(ValueError, match="groups"):
        FF.conv2d(torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), groups=0)


def test_softmax_implicit_dim_warns_like_torch():
    x = _input((2, 3, 4), torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = flt.Softmax()(x)
    assert any("Implicit dimension" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check(y, nn.Softmax()(x), "softmax implicit dim", torch.float64)


# ---------------------------------------------------------------------------------------------------------
# replace()


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                         nn.Sequential(nn.Conv2d(4, 4, 3), nn.GELU()), nn.Upsample(scale_factor=2, mode="bicubic"),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_replace_keeps_parameter_objects_and_an_existing_optimizer_working():
    model = _net()
    params_before = [id(p) for p in model.parameters()]
    buffers_before = [id(b) for b in model.buffers()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = copy.deepcopy(model)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1)
    out = flt.replace(model)
    assert out is model
    assert [id(p) for p in model.parameters()] == params_before
    assert [id(b) for b in model.buffers()] == buffers_before
    assert type(model[0]) is flt.Conv2d and type(model[3][1]) is flt.GELU
    report = model.fastlayers_report
    swapped = dict(report.swapped)
    assert swapped == {"0": "Conv2d", "1": "BatchNorm2d", "2": "ReLU", "3.0": "Conv2d", "3.1": "GELU",
                       "5": "AdaptiveAvgPool2d"}
    left = {name: why for name, _, why in report.left}
    assert "bicubic" in left["4"], report
    x = torch.randn(2, 3, 6, 6)
    for _ in range(3):
        for m, o in ((model, opt), (ref, opt_ref)):
            o.zero_grad()
            m(x).square().sum().backward()
            o.step()
    for (k, a), (_, b) in zip(ref.state_dict().items(), model.state_dict().items()):
        _check(b.float(), a.float(), f"after 3 steps: {k}", torch.float32)
    assert flt.replace(model).fastlayers_report.swapped == [], "a second replace must find nothing left to swap"


def test_replace_include_exclude_and_what_is_left_alone():
    model = flt.replace(_net(), exclude=["BatchNorm2d", "3"])
    assert type(model[1]) is nn.BatchNorm2d and type(model[3][0]) is nn.Conv2d and type(model[0]) is flt.Conv2d
    model = flt.replace(_net(), include=[nn.Conv2d])
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(flt.Conv2d) == 2 and nn.BatchNorm2d in kinds and nn.ReLU in kinds

    class MyConv(nn.Conv2d):
        pass

    half = nn.Conv2d(2, 2, 1).half()
    model = flt.replace(nn.Sequential(MyConv(2, 2, 1), half, nn.MaxPool3d(2), nn.Flatten()))
    left = {name: why for name, _, why in model.fastlayers_report.left}
    assert "subclass" in left["0"] and "float16" in left["1"], model.fastlayers_report
    assert left["2"] == "no fastlayers counterpart" and "3" not in left, model.fastlayers_report
    with pytest.raises(TypeError, match="include/exclude"):
        flt.replace(_net(), include=[3])


def test_replaced_model_switches_train_eval_and_dtype():
    ref = _net()[:4]
    ours = flt.replace(copy.deepcopy(ref))
    x = torch.randn(2, 3, 6, 6)
    for mode in ("train", "eval", "train"):
        getattr(ref, mode)()
        getattr(ours, mode)()
        _check(ours(x), ref(x), f"{mode} forward", torch.float32)
    ref.to(torch.float64)
    ours.to(torch.float64)
    assert type(ours[0]) is flt.Conv2d and ours[0].weight.dtype == torch.float64
    x = x.double()
    _check(ours(x), ref(x), "float64 forward after model.to(torch.float64)", torch.float64)


def test_functional_module_stands_in_for_torch_nn_functional():
    """Names fastlayers implements run on its kernels; the others (losses, ...) are torch's own."""
    assert FF.conv2d is not TF.conv2d and FF.relu is not TF.relu and FF.linear is not TF.linear
    assert FF.cross_entropy is TF.cross_entropy and FF.nll_loss is TF.nll_loss and FF.one_hot is TF.one_hot
    with pytest.raises(AttributeError, match="no_such_function"):
        FF.no_such_function
    x = _input((2, 3, 8, 8), torch.float64)
    w = _input((4, 3, 3, 3), torch.float64, seed=1)
    fc = _input((5, 36), torch.float64, seed=2)
    out = FF.log_softmax(FF.linear(FF.max_pool2d(FF.relu(FF.conv2d(x, w)), 2).flatten(1), fc), 1)
    ref = TF.log_softmax(TF.linear(TF.max_pool2d(TF.relu(TF.conv2d(x, w)), 2).flatten(1), fc), 1)
    _check(out, ref, "functional chain", torch.float64)
