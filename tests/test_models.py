"""Model shapes, the batched SIREN, SIREN initialisation of the generated weights, theta*."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hinr import preset
from hinr.data import grid
from hinr.models import (ConvEncoder, HyperINR, HyperNetwork, Siren, siren_init_bound,
                         siren_reference, siren_shapes, theta_star)

OMEGA0 = 30.0


def reference_siren_linears(depth: int, width: int, channels: int) -> list[nn.Linear]:
    """The layers of an ordinary SIREN 2 -> width x (depth-1) -> channels, built independently."""
    dims = [2] + [width] * (depth - 1) + [channels]
    return [nn.Linear(dims[i], dims[i + 1]) for i in range(depth)]


@pytest.mark.parametrize("depth,width,channels", [(2, 8, 1), (3, 16, 1), (3, 16, 3),
                                                  (5, 32, 3), (4, 12, 2)])
def test_hypernetwork_outputs_match_siren_parameter_shapes(depth, width, channels):
    shapes = siren_shapes(depth, width, 2, channels)
    linears = reference_siren_linears(depth, width, channels)
    assert shapes == [tuple(lin.weight.shape) for lin in linears]

    hyper = HyperNetwork(latent_dim=6, hidden=10, shapes=shapes, omega0=OMEGA0)
    assert len(hyper.heads) == 2 * depth
    batch = 4
    theta = hyper(torch.randn(batch, 6))
    assert len(theta) == depth
    for (w, b), lin in zip(theta, linears):
        assert w.shape == (batch, *lin.weight.shape)
        assert b.shape == (batch, *lin.bias.shape)

    # the full model: a reconstruction of the input's shape, a latent, theta as above
    cfg = preset("tiny", inr_depth=depth, inr_width=width)
    model = HyperINR(cfg, channels, (10, 12))
    images = torch.rand(batch, channels, 10, 12) * 2 - 1
    recon, v, theta = model(images, grid(10, 12))
    assert recon.shape == images.shape
    assert v.shape == (batch, cfg.latent_dim)
    assert [tuple(w.shape[1:]) for w, _ in theta] == shapes


@pytest.mark.parametrize("channels", [1, 3])
def test_batched_siren_equals_per_image_reference(channels):
    torch.manual_seed(0)
    shapes = siren_shapes(4, 16, 2, channels)
    batch = 5
    # weights at SIREN scale (so that the sines are far from linear), different per image
    theta = [(torch.empty(batch, o, i).uniform_(-1, 1) * siren_init_bound(k, i, OMEGA0),
              torch.empty(batch, o).uniform_(-1, 1) / math.sqrt(i))
             for k, (o, i) in enumerate(shapes)]
    coords = grid(7, 9)
    out = Siren(OMEGA0)(coords, theta)
    assert out.shape == (batch, 63, channels)
    for b in range(batch):
        ref = siren_reference(coords, [(w[b], bias[b]) for w, bias in theta], OMEGA0)
        torch.testing.assert_close(out[b], ref, rtol=1e-5, atol=1e-6)
    # and the images really differ, so the per-image weights are used per image
    assert not torch.allclose(out[0], out[1])


def test_decode_lays_pixels_out_row_major_like_grid():
    """A 2-layer SIREN that outputs ~y (channel 0) and ~x (channel 1) decodes to an image whose
    rows follow y and columns follow x."""
    eps = 1e-3
    w0 = torch.tensor([[eps / OMEGA0, 0.0], [0.0, eps / OMEGA0]])  # sin(omega0*(w0 c)) ~ eps*c
    w1 = torch.eye(2) / eps
    theta = [(w0[None], torch.zeros(1, 2)), (w1[None], torch.zeros(1, 2))]
    model = HyperINR(preset("tiny", omega0=OMEGA0), 2, (4, 6))
    img = model.decode(theta, grid(4, 6))  # (1, 2, 4, 6)
    ys, xs = torch.linspace(-1, 1, 4), torch.linspace(-1, 1, 6)
    torch.testing.assert_close(img[0, 0], ys[:, None].expand(4, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(img[0, 1], xs[None, :].expand(4, 6), atol=1e-5, rtol=0)


@pytest.mark.parametrize("depth,width,latent,layers", [(4, 64, 32, 1), (3, 128, 64, 1),
                                                       (4, 64, 32, 2)])
def test_initial_generated_weights_follow_siren_init(depth, width, latent, layers):
    """At init, theta ~ SIREN's init: layer 0 ~ U(+-1/in), later layers ~ U(+-sqrt(6/in)/omega0),
    i.e. std = bound/sqrt(3), for latents of the scale the encoder produces (|v| ~ 0.01-0.1)."""
    torch.manual_seed(0)
    shapes = siren_shapes(depth, width, 2, 1)
    hyper = HyperNetwork(latent, hidden=width, shapes=shapes, omega0=OMEGA0, layers=layers)
    v = 0.05 * torch.randn(16, latent)
    with torch.no_grad():
        theta = hyper(v)
    for layer, ((out_f, in_f), (w, b)) in enumerate(zip(shapes, theta)):
        bound = (1.0 / in_f) if layer == 0 else math.sqrt(6.0 / in_f) / OMEGA0
        expected_std = bound / math.sqrt(3)
        # the first and last layers have only width*2 and width distinct entries (the sample
        # std of 64 uniform draws is off by over 8% about one time in seven): looser there
        tol = 0.15 if min(out_f, in_f) <= 2 else 0.08
        assert w.std().item() == pytest.approx(expected_std, rel=tol), (layer, in_f)
        distinct = out_f * in_f  # the entries are (nearly) shared across images
        assert abs(w.mean().item()) < 4 * expected_std / math.sqrt(distinct)
        # uniform: (almost) nothing beyond the bound, unlike a Gaussian of the same std (3.8%
        # beyond 1.2 bound); the small v-dependent part smears the edge a little
        assert (w.abs() > 1.2 * bound).float().mean().item() < 0.01
        # the same weights for every image, up to a small v-dependent part
        assert (w - w.mean(0)).std().item() < 0.3 * expected_std
        # biases: PyTorch/SIREN's U(+-1/sqrt(in))
        if out_f > 1:
            assert b.std().item() == pytest.approx(1 / math.sqrt(in_f) / math.sqrt(3), rel=0.25)
    # first and hidden layer scales differ by orders of magnitude: the check above is specific
    assert theta[0][0].std() > 20 * theta[1][0].std()


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_hyper_layers_is_the_count_of_hidden_relu_layers_per_head(layers):
    """hyper_layers L: latent -> hidden, (L-1) x hidden -> hidden, hidden -> numel, a ReLU
    after each but the last: SIREN's FCBlock(num_hidden_layers=L-1, outermost_linear=True)."""
    latent, hidden, depth, width = 6, 10, 3, 8
    shapes = siren_shapes(depth, width, 2, 1)
    hyper = HyperNetwork(latent, hidden, shapes, OMEGA0, layers=layers)
    for k, head in enumerate(hyper.heads):
        linears = [m for m in head if isinstance(m, nn.Linear)]
        assert len(linears) == layers + 1
        assert [type(m) for m in head] == [nn.Linear, nn.ReLU] * layers + [nn.Linear]
        out_f, in_f = shapes[k // 2]
        assert linears[-1].out_features == (out_f * in_f if k % 2 == 0 else out_f)
    # each extra hidden layer adds one hidden x hidden Linear to each of the 2*depth heads
    one = sum(p.numel() for p in HyperNetwork(latent, hidden, shapes, OMEGA0).parameters())
    count = sum(p.numel() for p in hyper.parameters())
    assert count - one == 2 * depth * (layers - 1) * (hidden * hidden + hidden)
    assert len(hyper(torch.randn(2, latent))) == depth
    # the config reaches the model: paper's heads are SIREN's (two hidden layers)
    model = HyperINR(preset("tiny", hyper_layers=layers), 1, (8, 8))
    assert len([m for m in model.hyper.heads[0] if isinstance(m, nn.Linear)]) == layers + 1


@pytest.mark.parametrize("layers", [1, 2])
def test_bias_head_init_siren_and_fan_in_ranges(layers):
    """bias_head_init siren: the bias heads' output biases (the SIREN biases at init) ~
    U(+-1/hidden), SIREN's hyper_bias_init; fan_in: U(+-1/sqrt(in)) of the SIREN layer.
    Weight heads are the same under both."""
    torch.manual_seed(0)
    latent, hidden, depth, width = 8, 40, 4, 64  # hidden layers: in 64, 1/8 vs 1/40
    shapes = siren_shapes(depth, width, 2, 1)
    for init in ("siren", "fan_in"):
        hyper = HyperNetwork(latent, hidden, shapes, OMEGA0, layers=layers, bias_init=init)
        for layer, (out_f, in_f) in enumerate(shapes):
            bias = hyper.heads[2 * layer + 1][-1].bias
            bound = 1 / hidden if init == "siren" else 1 / math.sqrt(in_f)
            assert bias.abs().max().item() <= bound
            if out_f > 1:  # 64 draws: they fill the range
                assert bias.abs().max().item() > 0.8 * bound, (init, layer)
            weight_bias = hyper.heads[2 * layer][-1].bias
            assert weight_bias.abs().max().item() <= siren_init_bound(layer, in_f, OMEGA0)
    assert preset("paper").bias_head_init == "siren"
    model = HyperINR(preset("tiny", bias_head_init="siren", hyper_hidden=40), 1, (8, 8))
    assert model.hyper.heads[3][-1].bias.abs().max().item() <= 1 / 40
    with pytest.raises(ValueError, match="bias_init='xavier'.*siren, fan_in"):
        HyperNetwork(latent, hidden, shapes, OMEGA0, bias_init="xavier")


def test_siren_parameter_counts_behind_the_a2_scaling_note():
    """config.py: a2*mean(theta^2) is 23x stronger per parameter on small than on paper."""
    counts = {name: sum(o * i + o for o, i in siren_shapes(cfg.inr_depth, cfg.inr_width, 2, 1))
              for name, cfg in (("small", preset("small")), ("paper", preset("paper")))}
    assert counts == {"small": 8577, "paper": 198401}
    assert round(counts["paper"] / counts["small"]) == 23


def test_initial_weights_with_real_encoder_latents(mnist5k):
    """The same statistics with v from the untrained conv encoder on real digits."""
    torch.manual_seed(1)
    cfg = preset("small")  # width 64, 4 layers
    model = HyperINR(cfg, 1, (28, 28))
    with torch.no_grad():
        v = model.encoder(mnist5k.train_x[:32])
        theta = model.hyper(v)
    assert 1e-3 < v.abs().mean().item() < 1.0  # the realistic scale the test above assumes
    for layer, (w, _) in enumerate(theta[:-1]):
        expected = siren_init_bound(layer, w.shape[2], cfg.omega0) / math.sqrt(3)
        assert w.std().item() == pytest.approx(expected, rel=0.15 if layer == 0 else 0.08)


@pytest.mark.parametrize("channels,size", [(1, (28, 28)), (3, (32, 32)), (2, (20, 24)),
                                           (5, (16, 16))])
def test_conv_encoder_any_size_and_channels(channels, size):
    enc = ConvEncoder(channels, size, channels=16, blocks=2, kernel=3, latent_dim=12)
    x = torch.randn(3, channels, *size)
    v = enc(x)
    assert v.shape == (3, 12)
    assert torch.isfinite(v).all()
    # per-image: changing image 0 changes only v[0]
    x2 = x.clone()
    x2[0] = torch.randn(channels, *size)
    v2 = enc(x2)
    assert not torch.allclose(v[0], v2[0])
    torch.testing.assert_close(v[1:], v2[1:])


def test_conv_encoder_is_channels_last_and_layout_does_not_change_v():
    """NHWC is a speed choice only: the same weights in NCHW give the same latents."""
    torch.manual_seed(0)
    enc = ConvEncoder(3, (16, 16), channels=16, blocks=1, kernel=3, latent_dim=8).double()
    for conv in (m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    v = enc(x)
    enc.memory_format = torch.contiguous_format
    enc.features.to(memory_format=torch.contiguous_format)
    torch.testing.assert_close(enc(x), v)


def test_bf16_encoder_is_close_to_fp32_and_keeps_v_float32():
    torch.manual_seed(0)
    cfg = preset("tiny")
    fp32 = HyperINR(cfg, 1, (28, 28))
    bf16 = HyperINR(cfg.replace(precision="bf16"), 1, (28, 28))
    bf16.load_state_dict(fp32.state_dict())
    images = torch.rand(8, 1, 28, 28) * 2 - 1
    recon, v, theta = bf16(images, grid(28, 28))
    v32 = fp32.encoder(images)
    assert v.dtype == recon.dtype == theta[0][0].dtype == torch.float32
    assert 0 < (v - v32).abs().max() <= 0.03 * v32.abs().max()  # bf16 ran, and stayed close
    ((recon - images) ** 2).mean().backward()
    assert torch.isfinite(bf16.encoder.features[0].weight.grad).all()


def test_hyperinr_3_channel_end_to_end_gradients():
    cfg = preset("tiny")
    model = HyperINR(cfg, 3, (32, 32))
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    recon, v, theta = model(images, grid(32, 32))
    assert recon.shape == (2, 3, 32, 32)
    ((recon - images) ** 2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.encoder.features[0].weight.grad.abs().sum() > 0


def test_theta_star_shape_and_tiling():
    torch.manual_seed(0)
    batch, width, depth, channels = 2, 8, 4, 3
    shapes = siren_shapes(depth, width, 2, channels)  # (8,2), (8,8), (8,8), (3,8)
    theta = [(torch.randn(batch, o, i), torch.randn(batch, o)) for o, i in shapes]
    ts = theta_star(theta, width)
    assert ts.shape == (batch, depth, width, width)
    first, last = theta[0][0], theta[-1][0]
    for b in range(batch):
        for r in range(width):
            for c in range(width):
                # first layer (W, 2): repeated along its input dimension
                assert ts[b, 0, r, c] == first[b, r, c % 2]
                # last layer (C, W): repeated along its output dimension
                assert ts[b, depth - 1, r, c] == last[b, r % channels, c]
    # hidden layers are already (W, W): unchanged
    for layer in range(1, depth - 1):
        assert torch.equal(ts[:, layer], theta[layer][0])
    # biases play no part
    theta_nob = [(w, torch.zeros_like(b)) for w, b in theta]
    assert torch.equal(theta_star(theta_nob, width), ts)


def test_theta_star_single_channel_last_layer_rows_identical():
    shapes = siren_shapes(3, 16, 2, 1)
    theta = [(torch.randn(3, o, i), torch.randn(3, o)) for o, i in shapes]
    ts = theta_star(theta, 16)
    assert ts.shape == (3, 3, 16, 16)
    assert torch.equal(ts[:, 2], theta[2][0].expand(3, 16, 16))
    assert torch.equal(ts[:, 0, :, 0::2], theta[0][0][:, :, :1].expand(3, 16, 8))
    assert torch.equal(ts[:, 0, :, 1::2], theta[0][0][:, :, 1:].expand(3, 16, 8))
