"""Static plots for the report, drawn with matplotlib and returned as `data:image/svg+xml` URIs.

Why data URIs of SVG: the page then opens from disk with no network and no files to lose, each
plot stays sharp at any zoom, and the ids inside one SVG cannot clash with another's. The
`Figure` object API is used (no pyplot), so drawing needs no display and holds no global state.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

Series = tuple[str, Sequence[float], Sequence[float]]


def svg_uri(fig: Figure) -> str:
    """The figure as an inline SVG data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def curve_plot(title: str, series: Sequence[Series], ylabel: str = "", chance: float | None = None,
               log_y: bool = False) -> str:
    """One small line plot: each series (label, steps, values) against the training step."""
    fig = Figure(figsize=(4.6, 2.9))
    ax = fig.add_subplot()
    for label, xs, ys in series:
        marker = "o" if len(xs) < 30 else None
        ax.plot(xs, ys, label=label, marker=marker, markersize=3, linewidth=1.3)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label="chance")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if len(series) > 1 or chance is not None:
        ax.legend(fontsize=7, frameon=False)
    return svg_uri(fig)


def heat_map(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
             colorbar_label: str = "") -> str:
    """A (rows, cols) matrix in 0..1 as a heat map, values written in the cells while they fit."""
    rows, cols = matrix.shape
    fig = Figure(figsize=(min(2.2 + 0.42 * cols, 16.0), 1.2 + 0.38 * rows))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(cols), [str(c) for c in col_labels], fontsize=7)
    ax.set_yticks(range(rows), list(row_labels), fontsize=8)
    ax.set_xlabel("code dim", fontsize=9)
    ax.set_title(title, fontsize=10)
    if cols <= 24:
        for i in range(rows):
            for j in range(cols):
                v = float(matrix[i, j])
                ax.text(j, i, f"{v:.2f}"[1:] if 0 <= v < 1 else f"{v:.1f}", ha="center", va="center", fontsize=6,
                        color="white" if v < 0.6 else "black")
    bar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(colorbar_label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return svg_uri(fig)
