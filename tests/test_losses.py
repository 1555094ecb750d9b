"""Hand-computed checks of every DIC/DICGAN loss term."""

from __future__ import annotations

import math

import pytest
import torch
from refvectors import load_vector
from torch import nn

from dicmini import losses as L



def full(v, shape=(1, 1, 2, 2)):
    return torch.full(shape, float(v))


# ---------------------------------------------------------------------------------------------- pixel / align
def test_pixel_loss_sums_steps():
    hr = full(0.0)
    steps = [full(1.0), full(-2.0), full(0.5), full(0.0)]
    assert L.pixel_loss(steps, hr).item() == pytest.approx(1.0 + 2.0 + 0.5 + 0.0)
    assert L.pixel_loss(full(3.0), hr).item() == pytest.approx(3.0)  # a single tensor = one step
    mixed = torch.tensor([[[[1.0, -1.0], [3.0, 0.0]]]])
    assert L.pixel_loss([mixed], hr).item() == pytest.approx((1 + 1 + 3 + 0) / 4)


def test_pixel_loss_shape_check():
    with pytest.raises(ValueError, match=r"sr_steps\[1\]"):
        L.pixel_loss([full(0.0), full(0.0, (1, 1, 3, 3))], full(0.0))


def test_alignment_loss_mse_and_l1():
    gt = full(0.0)
    steps = [full(2.0), full(1.0)]
    assert L.alignment_loss(steps, gt).item() == pytest.approx(0.1 * (4.0 + 1.0))
    assert L.alignment_loss(steps, gt, kind="l1", weight=1.0).item() == pytest.approx(2.0 + 1.0)
    assert L.alignment_loss(steps, gt, weight=0.5).item() == pytest.approx(0.5 * 5.0)
    with pytest.raises(ValueError, match="kind"):
        L.alignment_loss(steps, gt, kind="huber")


# ---------------------------------------------------------------------------------------------- feature
class Doubler(nn.Module):
    """F(x) = 2x, with a parameter so that we can also see it gets no gradient when frozen."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0), requires_grad=False)

    def forward(self, x):
        return self.scale * x


def test_feature_loss_value_and_gradients():
    net = Doubler()
    sr = full(1.0).requires_grad_(True)
    hr = full(0.25).requires_grad_(True)
    loss = L.feature_loss(net, sr, hr, weight=0.1)
    assert loss.item() == pytest.approx(0.1 * abs(2 * 1.0 - 2 * 0.25))
    loss.backward()
    # d/dsr of 0.1 * mean|2 sr - c| = 0.1 * 2 / 4 per element
    torch.testing.assert_close(sr.grad, full(0.1 * 2 / 4))
    assert hr.grad is None  # target is detached
    assert L.feature_loss(net, sr, hr, weight=1.0).item() == pytest.approx(1.5)


def test_perceptual_loss_tensor_and_dict():
    sr, hr = full(1.0), full(0.0)
    assert L.perceptual_loss(Doubler(), sr, hr).item() == pytest.approx(2.0)
    assert L.perceptual_loss(Doubler(), sr, hr, weight=0.5, kind="mse").item() == pytest.approx(0.5 * 4.0)

    class TwoLayers(nn.Module):
        def forward(self, x):
            return {"a": x, "b": 3 * x}

    v = L.perceptual_loss(TwoLayers(), sr, hr, layer_weights={"b": 0.1})
    assert v.item() == pytest.approx(1.0 + 0.1 * 3.0)
    hr_g = full(0.0).requires_grad_(True)
    L.perceptual_loss(TwoLayers(), sr.requires_grad_(True), hr_g).backward()
    assert hr_g.grad is None and sr.grad is not None


# ---------------------------------------------------------------------------------------------- GAN
def test_gan_generator_loss():
    logits = torch.zeros(3, 1)  # sigmoid 0.5 -> BCE = ln 2
    assert L.gan_generator_loss(logits).item() == pytest.approx(0.005 * math.log(2))
    assert L.gan_generator_loss(logits, weight=1.0).item() == pytest.approx(math.log(2))
    # softplus(-x) for target 1
    assert L.gan_generator_loss(torch.tensor([[2.0]]), weight=1.0).item() == pytest.approx(math.log1p(math.exp(-2)))


def test_gan_discriminator_loss_labels():
    zero = torch.zeros(4, 1)
    assert L.gan_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))  # sum, no 1/2
    big = torch.full((4, 1), 20.0)
    perfect = L.gan_discriminator_loss(real_logits=big, fake_logits=-big).item()
    swapped = L.gan_discriminator_loss(real_logits=-big, fake_logits=big).item()
    assert perfect < 1e-8
    assert swapped == pytest.approx(40.0, rel=1e-6)
    # generator wants D(SR) -> 1: a fooled D costs ~0, a perfect D costs ~20*w
    assert L.gan_generator_loss(big, weight=1.0).item() < 1e-8
    assert L.gan_generator_loss(-big, weight=1.0).item() == pytest.approx(20.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------- combined
def _output():
    sr = [full(1.0), full(0.5), full(0.25), full(0.125)]
    hm = [full(1.0, (1, 2, 2, 2))] * 4
    return sr, hm, full(0.0), full(0.0, (1, 2, 2, 2))


def test_dic_generator_loss_recipes():
    sr, hm, hr, ghm = _output()
    pix = 1.0 + 0.5 + 0.25 + 0.125
    total, terms = L.dic_generator_loss((sr, hm), hr, ghm, "official")
    assert terms["pixel"] == pytest.approx(pix)
    assert terms["align"] == pytest.approx(4 * 0.1 * 1.0)
    assert terms["total"] == pytest.approx(total.item()) == pytest.approx(pix + 0.4)
    _, mm = L.dic_generator_loss((sr, hm), hr, ghm, "mmagic")
    assert mm == terms
    _, me = L.dic_generator_loss({"sr": sr, "heatmaps": hm}, hr, ghm, "mmedit")
    assert me["align"] == pytest.approx(4 * 1.0 * 1.0)  # 1.0 * L1 per step (0.x bug)
    with pytest.raises(ValueError, match="recipe"):
        L.dic_generator_loss((sr, hm), hr, ghm, "paper")


def test_dic_generator_loss_gan_terms_and_quirk():
    sr, hm, hr, ghm = _output()

    class ConstD(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 1) + 0 * x.sum()

    _, terms = L.dic_generator_loss((sr, hm), hr, ghm, feature_net=Doubler(), discriminator=ConstD())
    assert terms["feature"] == pytest.approx(0.1 * 2 * 0.125)  # last step only
    assert terms["gan"] == pytest.approx(0.005 * math.log(2))
    _, q = L.dic_generator_loss((sr, hm), hr, ghm, official_dicgan_pixel_quirk=True)
    assert q["pixel"] == pytest.approx(4 * 0.125)  # 4 * L1(SR_last, HR)
    _, q2 = L.dic_generator_loss((sr, hm), hr, ghm, official_dicgan_pixel_quirk=True, pixel_weight=2.0)
    assert q2["pixel"] == pytest.approx(2 * 4 * 0.125)


def test_dic_generator_loss_quirk_gradients_only_last_step():
    sr, hm, hr, ghm = _output()
    sr = [s.clone().requires_grad_(True) for s in sr]
    total, _ = L.dic_generator_loss((sr, hm), hr, ghm, official_dicgan_pixel_quirk=True)
    total.backward()
    assert all(s.grad is None for s in sr[:-1]) and sr[-1].grad is not None


def test_pixel_loss_matches_reference_grad_loss():
    io = load_vector("dicnet_A_seed0_io.pt")
    target = torch.rand(io["sr"][-1].shape, generator=torch.Generator().manual_seed(2))
    # the stored loss is F.l1_loss(sr[-1], target) of a train-mode forward, numerically the eval output
    assert L.pixel_loss([io["sr"][-1]], target).item() == pytest.approx(io["grad_loss"].item(), rel=1e-5)


def test_step_decay_weighs_later_steps_more_and_one_is_the_references_sum():
    from dicmini.losses import alignment_loss, pixel_loss, step_weights

    assert step_weights(3, 0.5) == [0.25, 0.5, 1.0] and step_weights(4) == [1.0] * 4
    with pytest.raises(ValueError, match="decay"):
        step_weights(3, 0.0)
    torch.manual_seed(0)
    hr, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 5, 4, 4)
    sr, heat = [torch.rand(2, 3, 8, 8) for _ in range(3)], [torch.rand(2, 5, 4, 4) for _ in range(3)]
    assert torch.equal(pixel_loss(sr, hr, 1.0), pixel_loss(sr, hr))
    expected = sum(w * torch.nn.functional.l1_loss(s, hr) for w, s in zip([0.25, 0.5, 1.0], sr))
    torch.testing.assert_close(pixel_loss(sr, hr, 0.5), expected)
    expected = sum(0.1 * w * torch.nn.functional.mse_loss(h, gt) for w, h in zip([0.25, 0.5, 1.0], heat))
    torch.testing.assert_close(alignment_loss(heat, gt, "mse", 0.1, 0.5), expected)


def test_step_decay_reaches_the_training_loss():
    from dicmini.losses import LossRecipe, dic_generator_loss

    torch.manual_seed(1)
    hr, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 68, 4, 4)
    out = ([torch.rand(2, 3, 8, 8) for _ in range(3)], [torch.rand(2, 68, 4, 4) for _ in range(3)])
    equal = dic_generator_loss(out, hr, gt, LossRecipe("x", "mse", 1.0))[1]
    decayed = dic_generator_loss(out, hr, gt, LossRecipe("x", "mse", 1.0, step_decay=0.5))[1]
    assert decayed["pixel"] < equal["pixel"] and decayed["align"] < equal["align"]
    from dicmini.train import apply_overrides, get_config

    assert get_config("official-celeba").step_decay == get_config("mmagic-celebahq").step_decay == 1.0  # DIC's
    assert get_config("tiny").step_decay == 0.25  # dicmini's recipe weighs later steps more
    with pytest.raises(ValueError, match="step_decay"):
        apply_overrides(get_config("tiny"), {"step_decay": 1.5})


def test_pixel_kind_mse_squares_the_error_and_reaches_the_training_loss():
    hr = full(0.0)
    steps = [full(1.0), full(-2.0), full(0.5)]
    assert L.pixel_loss(steps, hr, kind="mse").item() == pytest.approx(1.0 + 4.0 + 0.25)
    assert L.pixel_loss(steps, hr, 0.5, "mse").item() == pytest.approx(0.25 * 1.0 + 0.5 * 4.0 + 0.25)
    with pytest.raises(ValueError, match="pixel kind"):
        L.pixel_loss(steps, hr, kind="huber")
    out = ([full(1.0), full(2.0)], [full(0.0, (1, 68, 2, 2))] * 2)
    heat = full(0.0, (1, 68, 2, 2))
    l1 = L.dic_generator_loss(out, hr, heat, L.LossRecipe("x", "mse", 1.0))[1]
    mse = L.dic_generator_loss(out, hr, heat, L.LossRecipe("x", "mse", 1.0, pixel_kind="mse"))[1]
    assert l1["pixel"] == pytest.approx(3.0) and mse["pixel"] == pytest.approx(5.0)

    from dicmini.train import apply_overrides, get_config
    from dicmini.train.tasks import DICTraining

    assert get_config("tiny").pixel_kind == "l1"                     # both references' L1
    config = apply_overrides(get_config("tiny"), {"pixel_kind": "mse"})
    assert DICTraining(config, None).recipe.pixel_kind == "mse"
    with pytest.raises(ValueError, match="pixel_kind"):
        apply_overrides(get_config("tiny"), {"pixel_kind": "huber"})
