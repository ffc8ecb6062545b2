"""The published rows a run is read against: the Dis-GU paper's Table 1, where this project has recorded it.

Only Shapes3D (the official 64x64 files, GPU training) is recorded, as BENCHMARKS.md quotes it;
a run on another dataset shows no paper row rather than a guessed one. Cells: (mean, std or None).
"""

from __future__ import annotations

Cell = tuple[float, float | None]

PAPER_ROWS: dict[str, list[tuple[str, dict[str, Cell]]]] = {
    "shapes3d": [
        ("paper: Dis-GU", {"mig": (0.45, 0.04), "dci_disentanglement": (0.58, 0.03), "factor_vae": (0.92, 0.06),
                           "beta_vae": (0.98, 0.01)}),
        ("paper: beta-VAE", {"mig": (0.40, 0.12), "dci_disentanglement": (0.61, 0.11), "factor_vae": (0.87, 0.07),
                             "beta_vae": (0.93, 0.03)}),
        ("paper: LD", {"mig": (0.17, None), "dci_disentanglement": (0.38, None), "factor_vae": (0.44, None),
                       "beta_vae": (0.60, None)}),
        ("paper: DisCo", {"mig": (0.15, None), "dci_disentanglement": (0.52, None), "factor_vae": (0.85, None),
                          "beta_vae": (0.86, None)}),
    ],
}

PAPER_NOTE = ("The paper's rows are on the official Shapes3D files at 64x64 after GPU training; a run at "
              "another resolution, on procedural images or at a CPU budget is not the same protocol.")


def paper_rows(dataset: str) -> list[tuple[str, dict[str, Cell]]]:
    """The recorded rows for a dataset name (empty when none is recorded)."""
    return PAPER_ROWS.get(str(dataset).lower(), [])
