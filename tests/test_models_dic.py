"""DICNet and its building blocks (docs/reference_implementations.md#architecture)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from refvectors import load_vector, require_vectors
from dicmini.data.landmarks import merge_to_components
from dicmini.models import (
    AttentionFeedbackBlock, AttentiveFusion, CoarseFeedbackBlock, DICNet, DICOutput, DICTrace, FeedbackBlock,
    FeedbackHourglass, GroupResBlock, ResBlock, from_mmagic, to_mmagic,
)
from dicmini.models.convert import mmagic_key_to_dicmini

#: The small "config A" of the reference vectors; used wherever the full net would be too slow.
SMALL = dict(mid_channels=16, num_blocks=2, hg_mid_channels=32)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def max_rel_err(g: torch.Tensor, ref: torch.Tensor) -> float:
    return ((g - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module")
def ref() -> dict:
    io = load_vector("dicnet_A_seed0_io.pt")
    return {"io": io, "state": load_vector("dicnet_A_seed0_state.pt"), "extra": load_vector("dicnet_A_seed0_extra.pt")}


@pytest.fixture(scope="module")
def model_a(ref) -> DICNet:
    model = DICNet(**ref["io"]["config"])
    model.load_state_dict(from_mmagic(ref["state"]), strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def default_model() -> DICNet:
    torch.manual_seed(0)
    return DICNet().eval()


# -- parity with the reference vectors (config A) ------------------------------------------------------------

def test_config_a_outputs_match_reference(ref, model_a):
    io = ref["io"]
    with torch.no_grad():
        out = model_a(io["x"])
    assert isinstance(out, DICOutput) and len(out.sr) == len(out.heatmaps) == 4
    for sr, expected in zip(out.sr, io["sr"]):
        torch.testing.assert_close(sr, expected, atol=1e-5, rtol=0)
    for heat, expected in zip(out.heatmaps, io["heatmap"]):
        torch.testing.assert_close(heat, expected, atol=1e-4, rtol=1e-4)


def test_seeded_construction_draws_the_reference_initial_weights(ref):
    torch.manual_seed(ref["io"]["meta"]["seed"])
    state = to_mmagic(DICNet(**ref["io"]["config"]).state_dict())
    assert list(state) == list(ref["state"])
    for key, value in ref["state"].items():
        assert torch.equal(state[key], value), key


def test_trace_matches_reference_intermediates(ref, model_a):
    io, extra = ref["io"], ref["extra"]
    fusion_out = []
    handle = model_a.attention_block.fusion.register_forward_hook(lambda m, i, o: fusion_out.append(o))
    try:
        with torch.no_grad():
            trace = model_a.trace(io["x"])
            out = model_a(io["x"])
    finally:
        handle.remove()
    assert isinstance(trace, DICTrace)
    for a, b in zip(trace.sr, out.sr):  # forward and trace share one step loop
        assert torch.equal(a, b)
    torch.testing.assert_close(trace.lr_feature, extra["conv_first_out"][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(trace.sr_hidden[0], extra["first_block_out"][0], atol=1e-4, rtol=1e-4)
    for got, expected in zip(trace.sr_hidden[1:], extra["block_out"]):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    for got, expected in zip(fusion_out[:3], extra["fusion_out"]):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    for got, expected in zip(trace.hg_hidden, extra["hg_feedback"]):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert trace.attention[0] is None
    for got, expected in zip(trace.attention[1:], extra["reduce5_of_heatmap"][:3]):
        torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-4)
    for t in range(1, 4):  # the attention of step t is the merge of step t-1's heatmaps
        assert torch.equal(trace.attention[t], merge_to_components(trace.heatmaps[t - 1]))


def test_loss_and_gradients_match_reference(ref, model_a):
    io = ref["io"]
    model_a.train()
    model_a.zero_grad(set_to_none=True)
    try:
        sr, _ = model_a(io["x"])
        loss = F.l1_loss(sr[-1], io["grad_target"])
        torch.testing.assert_close(loss, io["grad_loss"], rtol=1e-5, atol=0)
        loss.backward()
        params = dict(model_a.named_parameters())
        for name, expected in io["grad"].items():
            grad = params[mmagic_key_to_dicmini(name)].grad
            if io["grad_is_none"][name]:
                assert grad is None, name
                continue
            assert grad is not None, name
            assert (grad - expected).abs().max() <= 1e-2 * expected.abs().max(), (name, max_rel_err(grad, expected))
    finally:
        model_a.zero_grad(set_to_none=True)
        model_a.eval()


def test_two_forwards_are_bit_identical(ref, model_a):
    with torch.no_grad():
        first = model_a(ref["io"]["x"])
        second = model_a(ref["io"]["x"])
    for a, b in zip(first.sr + first.heatmaps, second.sr + second.heatmaps):
        assert torch.equal(a, b)


def test_no_module_carries_recurrent_state():
    for name, module in DICNet(**SMALL).named_modules():
        for attr in ("last_hidden", "need_reset", "should_reset"):
            assert not hasattr(module, attr), f"{name or 'DICNet'}.{attr}"


# -- training options -----------------------------------------------------------------------------------------

def _train_step(model: DICNet, x: torch.Tensor, target: torch.Tensor, heat_target: torch.Tensor):
    model.zero_grad(set_to_none=True)
    sr, heatmaps = model(x)
    loss = sum(F.l1_loss(s, target) + 0.1 * F.mse_loss(h, heat_target) for s, h in zip(sr, heatmaps))
    loss.backward()
    return [t.detach() for t in sr + heatmaps], {n: p.grad.clone() for n, p in model.named_parameters()}


def test_gradient_checkpointing_gives_identical_outputs_and_gradients():
    torch.manual_seed(1)
    plain = DICNet(**SMALL, num_steps=3).train()
    ckpt = DICNet(**SMALL, num_steps=3, gradient_checkpointing=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 16, 16)
    target, heat_target = torch.rand(1, 3, 128, 128), torch.rand(1, 68, 32, 32)
    calls = []
    project = ckpt.coarse_block.project
    ckpt.coarse_block.project = lambda t: calls.append(1) or project(t)  # counts runs, incl. recomputation
    out_a, grads_a = _train_step(plain, x, target, heat_target)
    out_b, grads_b = _train_step(ckpt, x, target, heat_target)
    assert len(calls) == 2, "the checkpointed block should be recomputed in the backward pass"
    for a, b in zip(out_a, out_b):
        assert torch.equal(a, b)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert torch.equal(grads_a[name], grads_b[name]), name
    calls.clear()
    with torch.no_grad():  # no checkpointing (and no recomputation) without autograd
        ckpt(x)
    assert len(calls) == 1


@pytest.mark.parametrize("detach", [False, True])
def test_detach_attention_cuts_the_gradient_into_the_hourglass(detach):
    torch.manual_seed(2)
    model = DICNet(**SMALL, num_steps=2, detach_attention=detach).train()
    sr, _ = model(torch.rand(1, 3, 16, 16))
    F.l1_loss(sr[-1], torch.zeros_like(sr[-1])).backward()
    hg_grads = [p.grad for p in model.landmark_estimator.parameters()]
    if detach:
        assert all(g is None for g in hg_grads)
    else:
        assert all(g is not None for g in hg_grads)
    assert model.attention_block.compress_in[0].weight.grad is not None


# -- architecture: sizes, keys, arguments ---------------------------------------------------------------------

def test_default_parameter_counts(default_model):
    m = default_model
    assert n_params(m) == 21_803_849
    assert len(m.state_dict()) == 296 and not list(m.buffers())
    expected = {
        "lr_feature": 5_377, "coarse_block": 4_090_776, "attention_block": 5_559_720,
        "attention_block.fusion": 1_466_640, "landmark_estimator": 11_999_172,
        "landmark_estimator.pre_conv_block": 350_848, "landmark_estimator.first_conv": 262_656,
        "landmark_estimator.hg": 11_088_896, "landmark_estimator.last": 296_772, "reconstruction": 148_804,
    }
    for name, count in expected.items():
        assert n_params(m.get_submodule(name)) == count, name
    assert n_params(FeedbackBlock(48, 6, 8)) == 4_093_080
    assert n_params(CoarseFeedbackBlock(48, 6, 8)) == 4_090_776
    assert n_params(AttentionFeedbackBlock(48, 6, 8)) == 5_559_720
    assert n_params(AttentiveFusion(48, 5, 7)) == 1_466_640
    assert n_params(GroupResBlock(240, groups=5)) == 207_840
    assert n_params(FeedbackHourglass(256, 68)) == 11_999_172
    for (cin, cout), count in {(512, 512): 852_992, (64, 128): 57_728, (128, 128): 53_504,
                               (128, 256): 230_144, (256, 256): 213_504}.items():
        assert n_params(ResBlock(cin, cout)) == count


def test_default_keys_and_shapes_match_mmagic_in_order(default_model):
    lines = (require_vectors("dicnet_default_keys.txt") / "dicnet_default_keys.txt").read_text().splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    state = to_mmagic(default_model.state_dict())
    assert [k for k, _, _ in rows] == list(state)
    for key, shape, numel in rows:
        assert "x".join(map(str, state[key].shape)) == shape, key
        assert state[key].numel() == int(numel)


@pytest.mark.slow
def test_full_size_forward_shapes(default_model):
    with torch.no_grad():
        sr, heatmaps = default_model(torch.rand(1, 3, 16, 16) - 0.45)
    assert [tuple(t.shape) for t in sr] == [(1, 3, 128, 128)] * 4
    assert [tuple(t.shape) for t in heatmaps] == [(1, 68, 32, 32)] * 4
    assert all(torch.isfinite(t).all() for t in sr + heatmaps)


def test_prelu_init_applies_only_to_the_top_level_prelus():
    model = DICNet(**SMALL, prelu_init=0.1)
    assert model.lr_feature[1].weight.item() == pytest.approx(0.1)
    assert model.reconstruction[1].weight.item() == pytest.approx(0.1)
    block_prelus = [m for b in (model.coarse_block, model.attention_block) for m in b.modules()
                    if isinstance(m, nn.PReLU)]
    assert block_prelus and all(m.weight.item() == pytest.approx(0.2) for m in block_prelus)
    assert all(m.num_parameters == 1 for m in model.modules() if isinstance(m, nn.PReLU))


def test_upscale_factor_changes_only_the_projection_units():
    torch.manual_seed(3)
    x4, x8 = DICNet(**SMALL, upscale_factor=4), DICNet(**SMALL, upscale_factor=8)
    for block in (x4.coarse_block, x4.attention_block):
        for unit in list(block.up_blocks) + list(block.down_blocks):
            conv = unit[0]
            assert conv.kernel_size == (8, 8) and conv.stride == (4, 4) and conv.padding == (2, 2)
    shapes4 = {k: v.shape for k, v in x4.state_dict().items()}
    shapes8 = {k: v.shape for k, v in x8.state_dict().items()}
    assert shapes4.keys() == shapes8.keys()
    differing = {k for k in shapes4 if shapes4[k] != shapes8[k]}
    assert differing and all(("up_blocks" in k or "down_blocks" in k) and k.endswith(".0.weight") for k in differing)
    with torch.no_grad():
        sr, heatmaps = x4(torch.rand(1, 3, 16, 16))
    assert sr[-1].shape == (1, 3, 128, 128) and heatmaps[-1].shape == (1, 68, 32, 32)


@pytest.mark.parametrize("size", [(24, 16), (8, 8), (16, 32)])
def test_any_input_size_multiple_of_8(size):
    torch.manual_seed(4)
    model = DICNet(**SMALL, num_steps=2).eval()
    h, w = size
    with torch.no_grad():
        sr, heatmaps = model(torch.rand(1, 3, h, w))
    assert sr[-1].shape == (1, 3, 8 * h, 8 * w)
    assert heatmaps[-1].shape == (1, 68, 2 * h, 2 * w)


@pytest.mark.parametrize("num_steps", [1, 2])
def test_num_steps(num_steps):
    model = DICNet(**SMALL, num_steps=num_steps).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 16, 16))
        trace = model.trace(torch.rand(2, 3, 16, 16))
    assert len(out.sr) == len(out.heatmaps) == num_steps
    assert all(len(field) == num_steps for field in trace[1:])


def test_output_is_a_named_pair():
    assert DICOutput._fields == ("sr", "heatmaps")
    assert DICTrace._fields == ("lr_feature", "sr", "heatmaps", "attention", "sr_hidden", "hg_hidden")


@pytest.mark.parametrize("kwargs, name", [
    ({"num_heatmaps": 4}, "num_heatmaps"),
    ({"hg_num_keypoints": 20}, "hg_num_keypoints"),
    ({"hg_num_keypoints": 194}, "hg_num_keypoints"),
    ({"hg_mid_channels": 30}, "hg_mid_channels"),
    ({"in_channels": 1}, "in_channels"),
    ({"out_channels": 4}, "out_channels"),
    ({"mid_channels": 0}, "mid_channels"),
    ({"num_blocks": 0}, "num_blocks"),
    ({"num_steps": 0}, "num_steps"),
    ({"upscale_factor": 0}, "upscale_factor"),
    ({"num_fusion_blocks": -1}, "num_fusion_blocks"),
    ({"fusion": "sum"}, "fusion"),
])
def test_bad_arguments_raise_clear_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DICNet(**{**SMALL, **kwargs})


@pytest.mark.parametrize("shape", [(1, 3, 15, 16), (1, 3, 16, 12), (1, 1, 16, 16), (3, 16, 16), (1, 3, 0, 16)])
def test_bad_input_raises_clear_error(shape):
    model = DICNet(**SMALL, num_steps=1)
    with pytest.raises(ValueError, match=r"lr: expected a \[B, 3, h, w\]"):
        model(torch.zeros(shape))


def test_five_keypoints_are_taken_as_component_maps():
    model = DICNet(**SMALL, hg_num_keypoints=5, num_steps=2).eval()
    with torch.no_grad():
        trace = model.trace(torch.rand(1, 3, 16, 16))
    assert trace.heatmaps[0].shape == (1, 5, 32, 32)
    torch.testing.assert_close(trace.attention[1], merge_to_components(trace.heatmaps[0]))


def test_concat_fusion_ablation():
    model = DICNet(**SMALL, num_steps=2, fusion="concat").eval()
    keys = [k for k in model.state_dict() if k.startswith("attention_block.fusion.")]
    assert keys == ["attention_block.fusion.body.0.weight", "attention_block.fusion.body.0.bias",
                    "attention_block.fusion.body.1.weight"]
    assert model.attention_block.fusion.body[0].weight.shape == (16, 16 + 5, 1, 1)
    with torch.no_grad():
        sr, _ = model(torch.rand(1, 3, 16, 16))
    assert sr[-1].shape == (1, 3, 128, 128)
    assert model.config["fusion"] == "concat"


def test_no_landmark_prior_ablation_never_lets_the_landmarks_guide():
    torch.manual_seed(3)
    model = DICNet(**SMALL, num_steps=3, fusion="none").eval()
    reference = DICNet(**SMALL, num_steps=3, fusion="attention")
    assert list(model.state_dict()) == list(reference.state_dict())  # the same parameters as the paper's fusion
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        trace = model.trace(lr)
        assert trace.attention[0] is None
        assert all(torch.count_nonzero(a) == 0 for a in trace.attention[1:])
        guided = model(lr, guidance=torch.rand(2, 68, 32, 32))
        for p in model.landmark_estimator.parameters():
            p.add_(torch.randn_like(p))  # another landmark branch: other heatmaps, the same images
        moved = model(lr)
    for a, b, c in zip(trace.sr, guided.sr, moved.sr):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c, rtol=0, atol=0)
    assert not torch.equal(trace.heatmaps[-1], moved.heatmaps[-1])


# -- the blocks on their own ----------------------------------------------------------------------------------

def test_blocks_are_usable_on_their_own():
    torch.manual_seed(5)
    x, hidden = torch.rand(2, 8, 6, 10), torch.rand(2, 8, 6, 10)
    attention = torch.rand(2, 5, 6, 10)
    assert FeedbackBlock(8, 3, 2)(x, hidden).shape == (2, 8, 6, 10)
    assert CoarseFeedbackBlock(8, 3, 2)(x).shape == (2, 8, 6, 10)
    block = AttentionFeedbackBlock(8, 2, 3, num_fusion_blocks=1)
    assert block(x, attention, hidden).shape == (2, 8, 6, 10)
    with pytest.raises(ValueError, match="attention"):
        block(x, attention[:, :4], hidden)
    hourglass = FeedbackHourglass(16, 68).eval()
    image = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        heatmaps, state = hourglass(image)
        heatmaps2, state2 = hourglass(image, state)
    assert heatmaps.shape == (1, 68, 16, 32) and state.shape == (1, 16, 16, 32)
    assert heatmaps2.shape == heatmaps.shape and not torch.equal(heatmaps, heatmaps2)


def test_attentive_fusion_is_a_softmax_weighted_sum_of_groups():
    torch.manual_seed(6)
    fusion = AttentiveFusion(4, 5, 0)  # no residual blocks: groups = lrelu(conv_first(x))
    x, attention = torch.rand(1, 4, 3, 3), torch.randn(1, 5, 3, 3)
    groups = F.leaky_relu(fusion.conv_first[0](x), 0.2).view(1, 5, 4, 3, 3)
    weights = torch.softmax(attention, dim=1)
    expected = sum(groups[:, g] * weights[:, g:g + 1] for g in range(5))
    torch.testing.assert_close(fusion(x, attention), expected)
