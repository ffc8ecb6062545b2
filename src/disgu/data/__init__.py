"""Datasets: the paper's official formats, bring-your-own arrays, and offline procedural defaults."""

from disgu.data.base import GroundTruthDataset, ImageDataset
from disgu.data.registry import DATASET_NAMES, load_dataset

__all__ = ["DATASET_NAMES", "GroundTruthDataset", "ImageDataset", "load_dataset"]
