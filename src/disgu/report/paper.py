"""The published rows a run is read against: the Dis-GU paper's Table 1, where this project has recorded it.

Every row of Table 1 on Shapes3D (the official 64x64 files, GPU training), and the Dis-GU rows on
MPI3D and Cars3D; a run on another dataset shows no paper row rather than a guessed one.
Cells: (mean, std or None where the standard deviation is not recorded here).
"""

from __future__ import annotations

Cell = tuple[float, float | None]


def _cells(mig: float, dci: float, factor_vae: float, beta_vae: float) -> dict[str, Cell]:
    """A row whose standard deviations are not recorded."""
    return {"mig": (mig, None), "dci_disentanglement": (dci, None), "factor_vae": (factor_vae, None),
            "beta_vae": (beta_vae, None)}

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
        ("paper: FactorVAE", _cells(0.43, 0.60, 0.86, 0.87)),
        ("paper: DIP-VAE", _cells(0.38, 0.57, 0.68, 0.83)),
        ("paper: CF", _cells(0.30, 0.51, 0.95, 0.98)),
        ("paper: GS", _cells(0.11, 0.28, 0.80, 0.93)),
        ("paper: DS", _cells(0.36, 0.51, 0.93, 0.97)),
    ],
    "mpi3d": [("paper: Dis-GU", _cells(0.13, 0.30, 0.51, 0.55))],
    "cars3d": [("paper: Dis-GU", _cells(0.16, 0.27, 0.89, 0.98))],
}

_OFFICIAL_NAMES = {"shapes3d": "Shapes3D", "mpi3d": "MPI3D", "cars3d": "Cars3D"}


def paper_note(dataset: str) -> str:
    """What the paper's rows for `dataset` were measured on, and why a run here is context, not a replica."""
    name = _OFFICIAL_NAMES.get(dataset, dataset)
    return (f"The paper's rows are on the official {name} files at 64x64 after GPU training; a run at another "
            f"resolution, on procedural images or at a CPU budget is not the same protocol.")


def paper_row(dataset: str, method: str) -> dict[str, Cell] | None:
    """The paper's row for one method on a dataset ('Dis-GU', 'beta-VAE', ...), or None when not recorded."""
    return dict(paper_rows(dataset)).get(f"paper: {method}")


def paper_rows(dataset: str) -> list[tuple[str, dict[str, Cell]]]:
    """The recorded rows for a dataset name (empty when none is recorded)."""
    return PAPER_ROWS.get(str(dataset).lower(), [])
