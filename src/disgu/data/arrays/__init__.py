"""Bring-your-own data: images (and optional factors) in .npz / .h5 arrays, or a folder of image files."""
