"""Direction baselines in the frozen Glow: latent directions found without Dis-GU, read out by a regression encoder.

    config.py       the settings of a direction baseline run and its presets
    principal.py    GS: principal axes of the latents of training images
    closed_form.py  CF: eigenvectors of A^T A for the first mixing linear map of the Glow's reverse pass
    jacobian.py     DS: leading eigenvectors of the decoder's mean J^T J (Jacobian-vector products only)
    independent.py  ICA: independent components of the latents of training images
    discovered.py   LD: the discovery stage's navigator alone
    regression.py   targets (coordinates of z along the directions) and the encoder trained on Glow samples
    runner.py       one baseline run: Glow, directions, encoder, each resumable in its own folder

Every method gives an (a, k) matrix of unit columns in the navigated latent (a = its dimension).
"""

from disgu.directions.closed_form import closed_form_directions
from disgu.directions.config import METHODS, DirectionBaselineConfig, make_direction_config
from disgu.directions.jacobian import jacobian_directions, leading_eigenvectors
from disgu.directions.regression import direction_coordinates

__all__ = ["METHODS", "DirectionBaselineConfig", "closed_form_directions", "direction_coordinates",
           "jacobian_directions", "leading_eigenvectors", "make_direction_config"]
