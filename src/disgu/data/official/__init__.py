"""The paper's datasets in their official file formats; each loader lives in its own module."""

from disgu.data.official.cars3d_mat import Cars3DFolder
from disgu.data.official.dsprites_npz import DSpritesNpz
from disgu.data.official.mnist_idx import MNISTIdx
from disgu.data.official.mpi3d_npz import MPI3DNpz
from disgu.data.official.shapes3d_h5 import Shapes3DH5

__all__ = ["Cars3DFolder", "DSpritesNpz", "MNISTIdx", "MPI3DNpz", "Shapes3DH5"]
