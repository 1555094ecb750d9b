"""Exercise checks of the course notebooks (course_conventions §4.5.3).

Every exercise's check cell calls one of these::

    my_psnr = checks.check_psnr(my_psnr)

The check runs property tests (shapes, parameter counts, agreement with dicmini after copying weights,
whether the recurrent state matters, gradient flow), prints one deterministic ``✓``/``✗`` line per test (a
``✗`` line is followed by a hint), and returns the object the notebook continues with: the student's own
(also when a test fails) or, when the student's code raises ``NotImplementedError``, the dicmini reference
— so that every student notebook runs to the end. ``check.run(obj)`` returns a :class:`CheckReport`
(``.passed``, ``.implemented``, ``.lines``, ``.result``) instead.

One module per topic: :mod:`.metrics` (PSNR, SSIM), :mod:`.losses` (GAN losses).
"""

from ._core import Check, CheckPair, CheckReport, Line, Outcome
from .losses import check_discriminator_loss, check_gan_losses, check_generator_loss
from .metrics import check_psnr, check_ssim

__all__ = [
    "Check", "CheckPair", "CheckReport", "Line", "Outcome",
    "check_discriminator_loss", "check_gan_losses", "check_generator_loss", "check_psnr", "check_ssim",
]
