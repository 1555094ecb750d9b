"""DIC / DICGAN networks, one module per concept (paper §3; the reference code's layers:
docs/reference_implementations.md, Architecture and DICGAN networks):

* :mod:`~dicmini.models.projection`  up/down projection units and 1x1 transitions
* :mod:`~dicmini.models.feedback`    SRFBN feedback blocks: plain, coarse (step 0), landmark-attention
* :mod:`~dicmini.models.fusion`      attentive fusion with the 5 component maps, and a concat ablation
* :mod:`~dicmini.models.hourglass`   recursive hourglass and the feedback hourglass landmark estimator
* :mod:`~dicmini.models.dic`         :class:`DICNet`, the recurrent generator
* :mod:`~dicmini.models.convert`     dicmini / MMagic / official layouts, checkpoints, :func:`load_pretrained`
* :mod:`~dicmini.models.widen`       a trained recovery branch widened to more channels, computing the same images
* :mod:`~dicmini.models.flip_ensemble`  test time: the mean of the answers for a face and its mirror image
* :mod:`~dicmini.models.consistency`  test time: the nearest image whose bicubic x1/8 is the input
* :mod:`~dicmini.models.test_time`   the model's answer with the test-time options (flip, consistent)
* :mod:`~dicmini.models.lightcnn`    LightCNN-9 discriminator and feature network of DICGAN
* :mod:`~dicmini.models.vgg`         VGG16 / VGG19 features (perceptual losses, LPIPS trunk)
"""

from .convert import (
    CheckpointError,
    from_mmagic,
    from_official,
    infer_dicnet_config,
    load_official_hourglass,
    load_pretrained,
    load_state_dict_strict,
    read_checkpoint,
    save_dicmini_checkpoint,
    to_dicmini_state_dict,
    to_mmagic,
)
from .dic import DICNet, DICOutput, DICStep, DICTrace
from .feedback import AttentionFeedbackBlock, CoarseFeedbackBlock, FeedbackBlock
from .fusion import AttentiveFusion, ConcatFusion, GroupResBlock
from .hourglass import FeedbackHourglass, Hourglass, ResBlock
from .lightcnn import LightCNN, LightCNNFeature
from .projection import conv1x1_prelu, down_projection, up_projection
from .vgg import VGG16Features, VGG19Features

__all__ = [
    "AttentionFeedbackBlock", "AttentiveFusion", "CheckpointError", "CoarseFeedbackBlock", "ConcatFusion",
    "DICNet", "DICOutput", "DICStep", "DICTrace", "FeedbackBlock", "FeedbackHourglass", "GroupResBlock",
    "Hourglass", "LightCNN", "LightCNNFeature", "ResBlock", "VGG16Features", "VGG19Features", "conv1x1_prelu",
    "down_projection",
    "from_mmagic", "from_official", "infer_dicnet_config", "load_official_hourglass", "load_pretrained",
    "load_state_dict_strict", "read_checkpoint", "save_dicmini_checkpoint", "to_dicmini_state_dict", "to_mmagic",
    "up_projection",
]
