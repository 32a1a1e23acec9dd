"""The HyperINR objective term by term, and PSNR, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from hinr import preset
from hinr.losses import (conversion_table, hyperinr_loss, latent_prior, mse_to_psnr,
                         normalized_latent_prior, normalized_theta_prior, paper_theta_count,
                         prior_conversions, psnr, theta_prior)


def _theta():
    """Two layers, two images: weights (2, 2, 1) / (2, 1, 2), biases (2, 2) / (2, 1)."""
    w0 = torch.tensor([[[1.0], [2.0]], [[0.0], [-1.0]]])  # squares: 1 4 0 1
    b0 = torch.tensor([[3.0, 0.0], [1.0, 1.0]])  # 9 0 1 1
    w1 = torch.tensor([[[2.0, 2.0]], [[0.0, 1.0]]])  # 4 4 0 1
    b1 = torch.tensor([[-2.0], [0.0]])  # 4 0
    return [(w0, b0), (w1, b1)]


THETA_SQ_SUM = (1 + 4 + 0 + 1) + (9 + 0 + 1 + 1) + (4 + 4 + 0 + 1) + (4 + 0)
THETA_COUNT = 4 + 4 + 4 + 2


def test_theta_prior_is_mean_over_every_weight_and_bias():
    assert theta_prior(_theta()).item() == pytest.approx(THETA_SQ_SUM / THETA_COUNT)
    # not the mean of per-tensor means (which would weight the small bias tensor up)
    per_tensor = sum(t.pow(2).mean() for pair in _theta() for t in pair) / 4
    assert theta_prior(_theta()).item() != pytest.approx(per_tensor.item())


def test_latent_prior_is_mean_of_squares():
    v = torch.tensor([[1.0, -2.0, 0.0], [3.0, 0.5, -1.0]])
    assert latent_prior(v).item() == pytest.approx((1 + 4 + 0 + 9 + 0.25 + 1) / 6)


def test_hyperinr_loss_terms_and_weighted_sum():
    images = torch.tensor([[[[0.0, 0.5], [1.0, -1.0]]]])  # (1, 1, 2, 2)
    recon = torch.tensor([[[[0.5, 0.5], [0.0, -1.0]]]])  # errors 0.5, 0, 1, 0
    v = torch.tensor([[2.0, 0.0]])
    theta = _theta()
    a1, a2 = 0.1, 100.0
    terms = hyperinr_loss(recon, images, v, theta, a1, a2)
    mse = (0.25 + 0 + 1 + 0) / 4
    latent = (4 + 0) / 2
    weight = THETA_SQ_SUM / THETA_COUNT
    assert set(terms) == {"mse", "latent_prior", "theta_prior", "loss"}
    assert terms["mse"].item() == pytest.approx(mse)
    assert terms["latent_prior"].item() == pytest.approx(latent)
    assert terms["theta_prior"].item() == pytest.approx(weight)
    assert terms["loss"].item() == pytest.approx(mse + a1 * latent + a2 * weight)


def test_hyperinr_loss_classifier_term_is_weighted():
    images = torch.zeros(2, 1, 2, 2)
    recon = torch.full((2, 1, 2, 2), 0.1)
    v = torch.ones(2, 3)
    theta = _theta()
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1])
    log_softmax = [2.0 - math.log(math.exp(2) + 1 + math.exp(-1)),
                   0.0 - math.log(1 + 1 + math.exp(3))]
    ce = -(log_softmax[0] + log_softmax[1]) / 2
    base = hyperinr_loss(recon, images, v, theta, 0.5, 2.0)
    with_cls = hyperinr_loss(recon, images, v, theta, 0.5, 2.0, logits, labels, cls_weight=0.3)
    assert with_cls["cls_ce"].item() == pytest.approx(ce, rel=1e-6)
    assert with_cls["loss"].item() == pytest.approx(base["loss"].item() + 0.3 * ce, rel=1e-6)
    assert base["loss"].item() == pytest.approx(0.01 + 0.5 * 1.0 + 2.0 * THETA_SQ_SUM / THETA_COUNT)
    # cls_weight 0 leaves the loss unchanged but still reports the term
    zero = hyperinr_loss(recon, images, v, theta, 0.5, 2.0, logits, labels, cls_weight=0.0)
    assert zero["loss"].item() == pytest.approx(base["loss"].item())
    assert zero["cls_ce"].item() == pytest.approx(ce, rel=1e-6)


def test_loss_backpropagates_into_every_input():
    recon = torch.rand(2, 1, 3, 3, requires_grad=True)
    v = torch.rand(2, 4, requires_grad=True)
    theta = [(torch.rand(2, 3, 2, requires_grad=True), torch.rand(2, 3, requires_grad=True))]
    hyperinr_loss(recon, torch.zeros(2, 1, 3, 3), v, theta, 0.1, 100.0)["loss"].backward()
    # d/dw of a2*mean(theta^2) = a2 * 2 w / count
    count = 2 * 3 * 2 + 2 * 3
    torch.testing.assert_close(theta[0][0].grad, 100.0 * 2 * theta[0][0].detach() / count)
    torch.testing.assert_close(v.grad, 0.1 * 2 * v.detach() / v.numel())


def test_psnr_identical_images_is_huge():
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    p = psnr(x, x)
    assert p.shape == (3,)
    assert (p >= 99.0).all() and torch.isfinite(p).all()


def test_psnr_constant_error_of_0_1_on_unit_scale_is_20_db():
    target = torch.rand(4, 3, 8, 8) * 1.6 - 0.8  # in [-0.8, 0.8]: no clamping below
    pred = target + 0.2  # 0.2 on [-1, 1] is 0.1 on [0, 1]
    torch.testing.assert_close(psnr(pred, target), torch.full((4,), 20.0), atol=1e-3, rtol=0)
    assert mse_to_psnr(0.01) == pytest.approx(20.0)
    assert mse_to_psnr(0.0) == pytest.approx(100.0)


def test_psnr_is_per_image():
    target = torch.zeros(2, 1, 4, 4)
    pred = target.clone()
    pred[0] += 0.2  # 0.1 on [0, 1]: 20 dB
    pred[1] += 0.02  # 0.01: 40 dB
    torch.testing.assert_close(psnr(pred, target), torch.tensor([20.0, 40.0]), atol=1e-3, rtol=0)


def test_psnr_clamps_to_the_image_range():
    target = torch.ones(1, 1, 4, 4)
    assert psnr(target + 5.0, target).item() >= 99.0  # 6 clamps to 1: no error
    assert psnr(-target, target).item() == pytest.approx(0.0, abs=1e-5)  # error 1 on [0, 1]


def test_masked_psnr_scores_only_the_masked_pixels():
    target = torch.zeros(2, 1, 4, 4)
    pred = target.clone()
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[:, :, :2, :2] = True  # 4 of 16 pixels
    pred[:, :, :2, :2] += 0.2  # 0.1 error inside the hole
    pred[:, :, 2:, 2:] += 1.0  # a big error outside it: must not count
    torch.testing.assert_close(psnr(pred, target, mask), torch.full((2,), 20.0), atol=1e-3, rtol=0)
    # unmasked PSNR sees both errors: mean of 4*0.01 + 4*0.25 over 16 pixels
    expected = 10 * math.log10(1 / ((4 * 0.01 + 4 * 0.25) / 16))
    torch.testing.assert_close(psnr(pred, target), torch.full((2,), expected), atol=1e-3, rtol=0)
    # an empty mask gives no error (huge PSNR), not a division by zero
    empty = psnr(pred, target, torch.zeros_like(mask))
    assert torch.isfinite(empty).all() and (empty >= 99.0).all()


def _random_theta(depth: int, width: int, images: int = 2, channels: int = 1, seed: int = 0):
    from hinr.models import siren_shapes

    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(images, out, inp, generator=gen), torch.randn(images, out, generator=gen))
            for out, inp in siren_shapes(depth, width, 2, channels)]


def test_theta_prior_norms_by_hand():
    theta = _theta()  # two images
    assert normalized_theta_prior(theta, "mean").item() == theta_prior(theta).item()
    assert normalized_theta_prior(theta, "sum").item() == pytest.approx(THETA_SQ_SUM / 2)
    assert normalized_theta_prior(theta, "paper").item() == pytest.approx(
        THETA_SQ_SUM / (2 * 198_401))
    assert paper_theta_count(1) == 198_401  # the paper's SIREN on MNIST
    assert paper_theta_count(3) == 198_401 + 2 * 256 + 2  # on CIFAR-10: two more outputs
    with pytest.raises(ValueError, match="theta_prior_norm='median'.*mean, sum, paper"):
        normalized_theta_prior(theta, "median")


def test_latent_prior_norms_by_hand():
    v = torch.tensor([[1.0, -2.0, 0.0], [3.0, 1.0, 1.0]])  # two images, latent 3: squares sum 16
    assert normalized_latent_prior(v, "mean").item() == latent_prior(v).item()
    assert latent_prior(v).item() == pytest.approx(16 / 6)
    assert normalized_latent_prior(v, "sum").item() == pytest.approx(16 / 2)
    assert normalized_latent_prior(v, "paper").item() == pytest.approx(16 / (2 * 256))
    with pytest.raises(ValueError, match="latent_prior_norm='median'.*mean, sum, paper"):
        normalized_latent_prior(v, "median")


@pytest.mark.parametrize("norm", ["sum", "paper"])
def test_latent_norms_pull_each_coordinate_equally_at_every_latent_size(norm):
    """Under mean, d(a1 R)/dv_i = 2 a1 v_i / (B d): twice as hard at latent 32 as at 64;
    under sum and paper the pull on a coordinate does not depend on d."""
    def grad_of_first_coordinate(dim, how):
        v = torch.randn(4, dim, generator=torch.Generator().manual_seed(dim))
        v[0, 0] = 0.5
        v.requires_grad_(True)
        normalized_latent_prior(v, how).backward()
        return v.grad[0, 0].item()

    assert grad_of_first_coordinate(32, norm) == pytest.approx(
        grad_of_first_coordinate(64, norm), rel=1e-6)
    assert grad_of_first_coordinate(32, "mean") == pytest.approx(
        2 * grad_of_first_coordinate(64, "mean"), rel=1e-6)


def test_latent_norm_weighs_the_a1_term_and_leaves_the_reported_prior_alone():
    theta = _theta()
    recon = images = torch.zeros(2, 1, 2, 2)
    v = torch.tensor([[1.0, -2.0, 0.0], [3.0, 1.0, 1.0]])
    for norm, pull in (("mean", 16 / 6), ("sum", 8.0), ("paper", 16 / 512)):
        for th in (theta, None):  # HyperINR and autoencoder
            terms = hyperinr_loss(recon, images, v, th, a1=0.5, a2=0.0, latent_norm=norm)
            assert terms["latent_prior"].item() == pytest.approx(16 / 6)
            assert terms["loss"].item() == pytest.approx(0.5 * pull)


def test_conversions_make_the_same_loss_under_every_norm():
    """a1 x a1_<norm> under <norm> weighs v as a1 under mean, and a2 x a2_<norm> theta: the
    printed conversions are the ones the loss uses, on tiny sizes."""
    cfg = preset("tiny", latent_dim=8)
    f = prior_conversions(cfg)
    theta = _random_theta(cfg.inr_depth, cfg.inr_width)
    assert f["theta_count"] == sum(w[0].numel() + b[0].numel() for w, b in theta)
    v = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    for norm in ("sum", "paper"):
        a1_term = 0.1 * f[f"a1_{norm}"] * normalized_latent_prior(v, norm)
        assert a1_term.item() == pytest.approx(0.1 * latent_prior(v).item(), rel=1e-6)
        assert (100 * f[f"a2_{norm}"] * normalized_theta_prior(theta, norm)).item() == \
            pytest.approx((100 * normalized_theta_prior(theta, "mean")).item(), rel=1e-6)
    table = conversion_table()
    assert "small latent 32 depth 3" in table and "198401" in table


def test_paper_norm_on_the_paper_preset_is_mean_exactly():
    cfg = preset("paper")
    theta = _random_theta(cfg.inr_depth, cfg.inr_width)
    assert torch.equal(normalized_theta_prior(theta, "paper"), normalized_theta_prior(theta, "mean"))


def test_paper_norm_pulls_each_parameter_equally_at_every_size():
    """Under paper, d(a2 R)/d theta_i = 2 a2 theta_i / (B P_paper) on any model; under mean it
    is 2 a2 theta_i / (B P): the smaller model's parameters are pulled P_big/P_small harder."""
    sizes = {"small": (3, 16), "big": (5, 64)}  # P = 337 and 12,737 parameters per image

    def grad_of_first_weight(size, norm):
        theta = _random_theta(*sizes[size])
        theta[0][0][0, 0, 0] = 0.5  # the same parameter value in both models
        for w, b in theta:
            w.requires_grad_(True)
            b.requires_grad_(True)
        normalized_theta_prior(theta, norm).backward()
        return theta[0][0].grad[0, 0, 0].item()

    paper = grad_of_first_weight("small", "paper")
    assert paper == pytest.approx(grad_of_first_weight("big", "paper"), rel=1e-6)
    assert paper == pytest.approx(2 * 0.5 / (2 * 198_401), rel=1e-6)  # two images
    ratio = grad_of_first_weight("small", "mean") / grad_of_first_weight("big", "mean")
    assert ratio == pytest.approx(12_737 / 337, rel=1e-5)


def test_hyperinr_loss_weighs_the_normalised_prior_and_reports_the_mean():
    images, recon, v = torch.zeros(2, 1, 2, 2), torch.zeros(2, 1, 2, 2), torch.zeros(2, 3)
    theta, a2 = _theta(), 10.0
    for norm, prior in (("mean", THETA_SQ_SUM / THETA_COUNT), ("sum", THETA_SQ_SUM / 2),
                        ("paper", THETA_SQ_SUM / (2 * 198_401))):
        terms = hyperinr_loss(recon, images, v, theta, 0.1, a2, theta_norm=norm)
        assert terms["theta_prior"].item() == pytest.approx(THETA_SQ_SUM / THETA_COUNT)
        assert terms["loss"].item() == pytest.approx(a2 * prior)
