"""Every shipped checkpoint was made by the one training path: its stored train config is a named config."""

from pathlib import Path

import pytest

from dicmini.models import load_pretrained
from dicmini.models.convert import PRETRAINED_NAMES, read_checkpoint
from dicmini.train.config import RUN_ONLY_KEYS, config_from_dict, config_to_dict, get_config


def _trained(stored: dict) -> dict:
    """The settings that shape training; a setting added after the run was made reads as what runs did before
    it existed (``config_from_dict``)."""
    full = config_to_dict(config_from_dict(stored))
    return {k: v for k, v in full.items() if k not in RUN_ONLY_KEYS}


#: the shipped checkpoints and the named config each was made with: the packaged tiny DIC and its fine-tune for real
#: photos (``benchmarks/quality_bar.py --ship``) and the tiny DICGAN of notebook 08
#: (``benchmarks/dicgan_finetune.py --ship``)
SHIPPED = {"tiny": (PRETRAINED_NAMES["tiny"], "tiny"), "tiny-real": (PRETRAINED_NAMES["tiny-real"], "tiny-real"),
           "dicgan_tiny": (Path(__file__).resolve().parent.parent / "notebooks" / "artifacts" / "dicgan_tiny.pt",
                           "tiny-dicgan")}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_config_is_its_named_config(name):
    path, config_name = SHIPPED[name]
    checkpoint = read_checkpoint(path)
    stored = checkpoint["train_config"]
    assert stored["name"] == config_name
    assert checkpoint["command"] == f"dicmini train --config {stored['name']}"
    assert _trained(stored) == _trained(config_to_dict(get_config(stored["name"])))
    if stored["hourglass_stage"]:
        stage = checkpoint["stage_config"]
        assert _trained(stage) == _trained(config_to_dict(get_config(stored["hourglass_stage"])))
    if stored["init_generator"]:  # a fine-tune starts from a shipped checkpoint
        assert stored["init_generator"] in PRETRAINED_NAMES
    model = load_pretrained(path)
    kwargs = get_config(stored["name"]).model_kwargs()
    assert {k: model.config[k] for k in kwargs} == kwargs
