"""Every shipped checkpoint was made by the one training path: its stored train config is a named config."""

import pytest

from dicmini.models import load_pretrained
from dicmini.models.convert import PRETRAINED_NAMES, read_checkpoint
from dicmini.train.config import RUN_ONLY_KEYS, config_from_dict, config_to_dict, get_config


def _trained(stored: dict) -> dict:
    """The settings that shape training; a setting added after the run was made reads as what runs did before
    it existed (``config_from_dict``)."""
    full = config_to_dict(config_from_dict(stored))
    return {k: v for k, v in full.items() if k not in RUN_ONLY_KEYS}


@pytest.mark.parametrize("name", ["tiny"])
def test_shipped_checkpoint_config_is_its_named_config(name):
    checkpoint = read_checkpoint(PRETRAINED_NAMES[name])
    stored = checkpoint["train_config"]
    assert checkpoint["command"] == f"dicmini train --config {stored['name']}"
    assert _trained(stored) == _trained(config_to_dict(get_config(stored["name"])))
    if stored["hourglass_stage"]:
        stage = checkpoint["stage_config"]
        assert _trained(stage) == _trained(config_to_dict(get_config(stored["hourglass_stage"])))
    model = load_pretrained(name)
    kwargs = get_config(stored["name"]).model_kwargs()
    assert {k: model.config[k] for k in kwargs} == kwargs
