"""The paper's datasets in their official file formats; each loader lives in its own module."""

from disgu.data.cars3d_mat import Cars3DFolder
from disgu.data.dsprites_npz import DSpritesNpz
from disgu.data.mnist_idx import MNISTIdx
from disgu.data.mpi3d_npz import MPI3DNpz
from disgu.data.shapes3d_h5 import Shapes3DH5

__all__ = ["Cars3DFolder", "DSpritesNpz", "MNISTIdx", "MPI3DNpz", "Shapes3DH5"]
