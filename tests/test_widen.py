"""Widening a trained recovery branch (dicmini.models.widen, ``--set init_widen=true``): the wider model computes
the same images, its new channels train, and what cannot widen is refused by name."""

import pytest
import torch

from dicmini.models import DICNet, save_dicmini_checkpoint
from dicmini.models.convert import CheckpointError
from dicmini.models.widen import widen_state_dict
from dicmini.train import apply_overrides, get_config, tasks

ARCH = {"mid_channels": 4, "num_blocks": 3, "hg_mid_channels": 8, "num_steps": 3, "upscale_factor": 2,
        "num_fusion_blocks": 2}


def _narrow(seed: int = 0, **changes) -> DICNet:
    torch.manual_seed(seed)
    model = DICNet(**{**ARCH, **changes}).eval()
    with torch.no_grad():
        for p in model.parameters():  # away from the init (a zero bias too), so a misplaced weight shows
            p.add_(torch.randn_like(p), alpha=0.05)
    return model


def _wide(width: int, **changes) -> DICNet:
    torch.manual_seed(1)
    return DICNet(**{**ARCH, **changes, "mid_channels": width}).eval()


@pytest.mark.parametrize("fusion", ["attention", "concat"])
@pytest.mark.parametrize("summed_transitions", [False, True])
def test_the_wider_model_computes_the_same_images_and_landmarks(fusion, summed_transitions):
    narrow, wide = _narrow(fusion=fusion), _wide(8, fusion=fusion)
    wide.load_state_dict(widen_state_dict(narrow.state_dict(), wide))
    for block in (narrow.coarse_block, narrow.attention_block, wide.coarse_block, wide.attention_block):
        block.concat_transitions = not summed_transitions
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before, after = narrow(lr), wide(lr)
    for a, b in zip(before.sr + before.heatmaps, after.sr + after.heatmaps):
        assert a.abs().max() > 0.05
        torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-5)


def test_the_new_channels_start_switched_off_and_train():
    narrow, wide = _narrow(), _wide(8)
    widened = widen_state_dict(narrow.state_dict(), wide)
    last = widened["reconstruction.2.weight"]
    assert torch.equal(last[:, :4], narrow.state_dict()["reconstruction.2.weight"])
    assert not last[:, 4:].any()  # the RGB output reads the new channels through zeros
    first = widened["lr_feature.0.weight"]  # channel-major before PixelShuffle: old rows stay in place
    assert torch.equal(first[:16], narrow.state_dict()["lr_feature.0.weight"]) and first[16:].abs().sum() > 0
    fusion = widened["attention_block.fusion.conv_first.0.weight"]  # 5 component groups of 4 -> 5 of 8
    assert torch.equal(fusion[8:12, :4], narrow.state_dict()["attention_block.fusion.conv_first.0.weight"][4:8])
    assert not fusion[8:12, 4:].any() and fusion[12:16].abs().sum() > 0

    wide.load_state_dict(widened)
    wide.train()
    wide(torch.rand(2, 3, 16, 16)).sr[-1].square().mean().backward()
    assert wide.reconstruction[2].weight.grad[:, 4:].abs().sum() > 0  # the switch gets a gradient at once
    optimizer = torch.optim.SGD(wide.parameters(), lr=0.1)
    optimizer.step()
    optimizer.zero_grad()
    wide(torch.rand(2, 3, 16, 16)).sr[-1].square().mean().backward()
    assert wide.lr_feature[0].weight.grad[16:].abs().sum() > 0  # and then the new path itself


def test_what_cannot_widen_is_refused_by_name():
    with pytest.raises(ValueError, match="narrower"):
        widen_state_dict(_narrow().state_dict(), _wide(2))
    with pytest.raises(ValueError, match="only mid_channels may differ, got num_blocks 3 vs model 2"):
        widen_state_dict(_narrow().state_dict(), _wide(8, num_blocks=2))
    with pytest.raises(ValueError, match="hg_mid_channels 8 vs model 16"):
        widen_state_dict(_narrow().state_dict(), _wide(8, hg_mid_channels=16))
    state = _narrow().state_dict()
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="layouts differ.*extra.weight"):
        widen_state_dict(state, _wide(8))


def test_a_run_starts_wider_from_a_narrower_checkpoint_only_when_asked(tmp_path):
    narrow = _narrow()
    start = save_dicmini_checkpoint(tmp_path / "narrow.pt", narrow)
    settings = {**ARCH, "mid_channels": 8, "init_generator": str(start), "init": "default", "face_pool": False,
                "hourglass_stage": "", "progress": False}
    config = apply_overrides(get_config("tiny"), {**settings, "init_widen": True})
    task = tasks.make_task(config, tmp_path / "run")
    model = task.build_model(load_init=True).eval()
    assert any("widened from 4 to 8 recovery channels" in note for note in task.notes)
    lr = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(lr).sr[-1], narrow(lr).sr[-1], atol=2e-5, rtol=1e-5)
    refused = apply_overrides(get_config("tiny"), settings)
    with pytest.raises(CheckpointError, match="narrow.pt.*--set init_widen=true"):
        tasks.make_task(refused, tmp_path / "run").build_model(load_init=True)
    with pytest.raises(ValueError, match="init_widen.*init_generator"):
        apply_overrides(get_config("tiny"), {"init_widen": True})
