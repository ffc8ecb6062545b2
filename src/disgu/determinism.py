"""`--deterministic`: the same seed gives the same numbers on a GPU as well, at a cost in speed.

On the CPU with one thread every run is already reproducible. On a GPU, by default, cuDNN picks
convolution algorithms that may use atomics (different summation orders from run to run), runs
convolutions in TF32 (a 10-bit mantissa), and some backward kernels (index_add, scatter) add in
an arbitrary order. This switches all of that off for the process: cuDNN's deterministic
algorithms without autotuning, fp32 convolutions and matmuls, torch's deterministic algorithms
(an op without one raises instead of running), and the cuBLAS workspace setting they need.
"""

from __future__ import annotations

import os

import torch

CUBLAS_WORKSPACE = ":4096:8"  # what torch.use_deterministic_algorithms asks of CUDA >= 10.2


def make_deterministic() -> None:
    """Deterministic kernels and no TF32 from here on, in this process (call before the first CUDA work)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.use_deterministic_algorithms(True)


def determinism_state() -> dict[str, object]:
    """The settings make_deterministic changes, as they are now (recorded with a run; restored by tests)."""
    return {"cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}


def restore_determinism(state: dict[str, object]) -> None:
    """Put back the settings `determinism_state` returned."""
    torch.backends.cudnn.deterministic = bool(state["cudnn_deterministic"])
    torch.backends.cudnn.benchmark = bool(state["cudnn_benchmark"])
    torch.backends.cudnn.allow_tf32 = bool(state["cudnn_allow_tf32"])
    torch.backends.cuda.matmul.allow_tf32 = bool(state["matmul_allow_tf32"])
    torch.use_deterministic_algorithms(bool(state["deterministic_algorithms"]))
    if state["cublas_workspace_config"] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = str(state["cublas_workspace_config"])
