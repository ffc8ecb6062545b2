"""Steps whose gradients hold inf/NaN (a fragile Glow reverse pass) are detected, so they can be skipped."""

import torch

from disgu.distributed import gradients_finite


def test_gradients_finite_spots_nan_and_inf():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    (a.sum() + b.sum()).backward()
    assert gradients_finite([a, b])
    b.grad[1] = float("nan")
    assert not gradients_finite([a, b])
    b.grad[1] = float("inf")
    assert not gradients_finite([a, b])
    c = torch.nn.Parameter(torch.ones(1))  # never received a gradient: ignored
    b.grad.zero_()
    assert gradients_finite([a, b, c])
