"""Exercise checks of the course notebooks (course_conventions §4.5.3).

Every exercise's check cell calls one of these::

    MyFeedbackBlock = checks.check_feedback_block(MyFeedbackBlock)

The check runs property tests (shapes, parameter counts, agreement with dicmini after copying weights,
whether the recurrent state matters, gradient flow), prints one deterministic ``✓``/``✗`` line per test (a
``✗`` line is followed by a hint that names the root cause where it can: parameters by name, the first
sub-module whose result differs from the reference's; a test that needs what an earlier one found wrong
prints ``–`` instead of repeating it), and returns the object the notebook continues with: the student's own
(also when a test fails) or, when the student's code raises ``NotImplementedError``, the dicmini reference
— so that every student notebook runs to the end. ``check.run(obj)`` returns a :class:`CheckReport`
(``.passed``, ``.implemented``, ``.lines``, ``.result``) instead of printing only.

The lesson's cells after a check go on without stopping on a wrong implementation (the check already said what
is wrong): they claim with ``checks.expect(condition, text)`` where they would ``assert``, run the student's code
and its comparison with dicmini inside ``with checks.confirm(text):`` (✓, or ✗ with the failed assertion or the
exception, and the notebook goes on), and build on an exercise through ``checks.usable(MyX)``: the student's
object once it passed its check, else the reference, with a ✗ line saying so::

    with checks.confirm("identical to dicmini.models.ResBlock"):
        reference.load_state_dict(block.state_dict())
        torch.testing.assert_close(block(x), reference(x))
    MyResBlock = checks.usable(MyResBlock)     # the hourglass is built from it

One module per notebook topic:

=====================  ==========================================================  ========
module                 checks                                                      notebook
=====================  ==========================================================  ========
:mod:`.data`           ``check_heatmaps``, ``check_merge``                          01
:mod:`.feedback`       ``check_projections`` (up, down), ``check_feedback_block``   02
:mod:`.hourglass`      ``check_res_block``, ``check_hourglass``,                    03
                       ``check_feedback_hourglass``
:mod:`.fusion`         ``check_group_res_block``, ``check_attentive_fusion``        04
:mod:`.dic`            ``check_dic``                                                05
:mod:`.losses`         ``check_gan_losses`` (discriminator, generator)              06
:mod:`.training`       ``check_training_step``                                      07
:mod:`.metrics`        ``check_psnr``, ``check_ssim``                               09
:mod:`.analysis`       ``check_paired``, ``check_landmark_motion``,                 09b, 10, 11
                       ``check_effect_vs_noise``
=====================  ==========================================================  ========
"""

from ._core import Check, CheckPair, CheckReport, Line, Outcome, confirm, expect, last_report, usable
from .analysis import check_effect_vs_noise, check_landmark_motion, check_paired
from .data import check_heatmaps, check_merge
from .dic import check_dic
from .feedback import check_down_projection, check_feedback_block, check_projections, check_up_projection
from .fusion import check_attentive_fusion, check_group_res_block
from .hourglass import check_feedback_hourglass, check_hourglass, check_res_block
from .losses import check_discriminator_loss, check_gan_losses, check_generator_loss
from .metrics import check_psnr, check_ssim
from .training import check_training_step

#: every check, by the name a notebook calls it with (pairs included)
ALL_CHECKS = {
    "check_heatmaps": check_heatmaps, "check_merge": check_merge,
    "check_projections": check_projections, "check_feedback_block": check_feedback_block,
    "check_res_block": check_res_block, "check_hourglass": check_hourglass,
    "check_feedback_hourglass": check_feedback_hourglass,
    "check_group_res_block": check_group_res_block, "check_attentive_fusion": check_attentive_fusion,
    "check_dic": check_dic, "check_gan_losses": check_gan_losses, "check_training_step": check_training_step,
    "check_psnr": check_psnr, "check_ssim": check_ssim,
    "check_paired": check_paired, "check_landmark_motion": check_landmark_motion,
    "check_effect_vs_noise": check_effect_vs_noise,
}

__all__ = [
    "ALL_CHECKS", "Check", "CheckPair", "CheckReport", "Line", "Outcome", "confirm", "expect", "last_report", "usable",
    "check_attentive_fusion", "check_dic", "check_effect_vs_noise", "check_landmark_motion", "check_training_step",
    "check_discriminator_loss", "check_down_projection",
    "check_feedback_block", "check_feedback_hourglass", "check_gan_losses", "check_generator_loss",
    "check_group_res_block", "check_heatmaps", "check_hourglass", "check_merge", "check_paired", "check_projections",
    "check_psnr", "check_res_block", "check_ssim", "check_up_projection",
]
