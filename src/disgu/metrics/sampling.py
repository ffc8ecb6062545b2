"""Where metric samples come from, drawn exactly as disentanglement_lib draws them.

disentanglement_lib samples ground-truth factors with one `randint(K_i, size=n)` per factor,
in factor order, from the metric's own `np.random.RandomState`, and looks up the code of each
factor tuple. Matching its numbers means matching that order of draws, batch by batch; this
module owns that order so the metric modules never call the random state themselves, except
for the one extra draw of the fixed factor in FactorVAE and beta-VAE.

A `CodeSource` hides where codes come from:
- `GridCodes`: arrays `codes` (N, d) and `factors` (N, F) of a full factorial grid (any row order);
- `LabelledCodes`: labelled samples that are not a full grid (MIG, DCI, SAP, modularity only);
- `DatasetCodes`: a `disgu.data.GroundTruthDataset` plus a representation function images -> codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from disgu.errors import UserError


class MetricInputError(UserError, ValueError):
    """Codes or factors a metric cannot use: a ValueError for library users, a one-line error in the CLI."""


@contextlib.contextmanager
def one_thread():
    """Limit BLAS and OpenMP to one thread around sklearn fits.

    On shared cores multithreaded OpenBLAS spins: LogisticRegression on 10,000 x 64 took 13 s
    with 2 threads and 0.23 s with 1 here. Parallel work is done across factors instead. Only
    the fits are wrapped, so a representation function (an encoder) keeps its own threads.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def as_random_state(random_state: int | np.random.RandomState) -> np.random.RandomState:
    """A fresh RandomState for an int seed (the disentanglement_lib protocol); a given RandomState as is."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)):
        raise MetricInputError(f"random_state must be an int seed or np.random.RandomState, got {random_state!r}")
    return np.random.RandomState(int(random_state))


def check_codes(codes, name: str = "codes") -> np.ndarray:
    """Codes as a finite float64 (N, d) array, or a MetricInputError saying what is wrong."""
    arr = np.asarray(codes)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise MetricInputError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise MetricInputError(f"{name} must have shape (num_samples, num_dims), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise MetricInputError(f"{name} needs at least 2 samples and 1 dimension, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise MetricInputError(
            f"{name} has {int(bad.sum())} NaN or infinite values in {rows.size} rows (first row {int(rows[0])})"
        )
    return arr


def factor_classes(factors, name: str = "factors") -> tuple[np.ndarray, tuple[int, ...]]:
    """Map each factor column's values to classes 0..K-1 (sorted order); return classes and sizes K."""
    arr = np.asarray(factors)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise MetricInputError(f"{name} must have shape (num_samples, num_factors), got shape {arr.shape}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise MetricInputError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise MetricInputError(f"{name} has NaN or infinite values")
    classes = np.empty(arr.shape, dtype=np.int64)
    sizes = []
    for j in range(arr.shape[1]):
        values, inverse = np.unique(arr[:, j], return_inverse=True)
        if values.size < 2:
            raise MetricInputError(
                f"{name} column {j} takes a single value; every factor needs at least two values"
            )
        classes[:, j] = inverse.reshape(-1)
        sizes.append(int(values.size))
    return classes, tuple(sizes)


def draw_factors(factor_sizes, num: int, random_state: np.random.RandomState) -> np.ndarray:
    """disentanglement_lib's factor draw: one randint per factor, in factor order."""
    out = np.zeros((num, len(factor_sizes)), dtype=np.int64)
    for i, k in enumerate(factor_sizes):
        out[:, i] = random_state.randint(k, size=num)
    return out


class CodeSource:
    """Codes and factors to sample from. Grid sources can also sample with factors held fixed."""

    is_grid: bool = False
    factor_sizes: tuple[int, ...] = ()

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_keys(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        """Draw `num` samples; the keys say which (factor classes on a grid, row numbers otherwise)."""
        raise NotImplementedError

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codes (n, d) float64 and factor classes (n, F) of the drawn keys."""
        raise NotImplementedError

    # Only grid sources implement the two below.
    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        raise MetricInputError(self._not_grid_message())

    def codes_of(self, classes: np.ndarray) -> np.ndarray:
        raise MetricInputError(self._not_grid_message())

    def _not_grid_message(self) -> str:
        return "this metric needs a full factorial grid of factors to sample with one factor fixed"


class GridCodes(CodeSource):
    """Codes of every point of a full factorial grid, in any row order, looked up by factor tuple."""

    is_grid = True

    def __init__(self, codes, factors):
        self.codes = check_codes(codes)
        classes, sizes = factor_classes(factors)
        if classes.shape[0] != self.codes.shape[0]:
            raise MetricInputError(
                f"codes has {self.codes.shape[0]} rows but factors has {classes.shape[0]}; they must match"
            )
        self.factor_sizes = sizes
        self.factors = classes
        self.grid_index = np.ravel_multi_index(tuple(classes.T), sizes)
        total = int(np.prod(sizes, dtype=np.int64))
        if total != classes.shape[0] or np.bincount(self.grid_index, minlength=total).max() != 1:
            raise MetricInputError(_grid_problem(classes, sizes))
        self.row_of = np.empty(total, dtype=np.int64)
        self.row_of[self.grid_index] = np.arange(total)

    @property
    def num_dims(self) -> int:
        return self.codes.shape[1]

    def sample_factors(self, num, random_state):
        return draw_factors(self.factor_sizes, num, random_state)

    def codes_of(self, classes):
        return self.codes[self.row_of[np.ravel_multi_index(tuple(np.asarray(classes).T), self.factor_sizes)]]

    def sample_keys(self, num, random_state):
        return self.sample_factors(num, random_state)

    def lookup(self, keys):
        return self.codes_of(keys), keys


def _grid_problem(classes: np.ndarray, sizes: tuple[int, ...]) -> str:
    total = int(np.prod(sizes, dtype=np.int64))
    distinct = np.unique(classes, axis=0).shape[0]
    return (
        f"factors is not a full factorial grid: {classes.shape[0]} rows, factor sizes {list(sizes)} "
        f"(a grid has {total} distinct rows), {distinct} distinct factor tuples"
    )


class LabelledCodes(CodeSource):
    """Labelled samples that are not a full grid: rows are drawn uniformly with replacement."""

    def __init__(self, codes, factors):
        self.codes = check_codes(codes)
        self.factors, self.factor_sizes = factor_classes(factors)
        if self.factors.shape[0] != self.codes.shape[0]:
            raise MetricInputError(
                f"codes has {self.codes.shape[0]} rows but factors has {self.factors.shape[0]}; they must match"
            )
        self._reason = _grid_problem(self.factors, self.factor_sizes)

    @property
    def num_dims(self) -> int:
        return self.codes.shape[1]

    def sample_keys(self, num, random_state):
        return random_state.randint(self.codes.shape[0], size=num)

    def lookup(self, keys):
        return self.codes[keys], self.factors[keys]

    def _not_grid_message(self) -> str:
        return self._reason + "; FactorVAE and beta-VAE need one (MIG, DCI, SAP and modularity do not)"


class DatasetCodes(CodeSource):
    """A ground-truth dataset and a representation function; codes are computed once per image and cached."""

    is_grid = True

    def __init__(self, dataset, representation_function: Callable[[np.ndarray], np.ndarray], batch_size: int = 256):
        for attr in ("sample_factors", "index_of", "images", "factor_sizes"):
            if not hasattr(dataset, attr):
                raise MetricInputError(
                    f"dataset must be a ground-truth dataset with .{attr} (got {type(dataset).__name__})"
                )
        self.dataset = dataset
        self.representation_function = representation_function
        self.batch_size = int(batch_size)
        self.factor_sizes = tuple(int(k) for k in dataset.factor_sizes)
        self._codes: np.ndarray | None = None  # (len(dataset), d), filled on demand
        self._have = np.zeros(len(dataset), dtype=bool)

    @property
    def num_dims(self) -> int:
        if self._codes is None:
            self._encode(np.zeros(1, dtype=np.int64))
        return int(self._codes.shape[1])

    def sample_factors(self, num, random_state):
        return np.asarray(self.dataset.sample_factors(num, random_state), dtype=np.int64)

    def codes_of(self, classes):
        return self._encode(np.asarray(self.dataset.index_of(np.asarray(classes, dtype=np.int64))))

    def sample_keys(self, num, random_state):
        return self.sample_factors(num, random_state)

    def lookup(self, keys):
        return self.codes_of(keys), keys

    def codes_at(self, idx: np.ndarray) -> np.ndarray:
        """Codes (n, d) of dataset rows `idx`, encoding only those not seen before."""
        return self._encode(np.asarray(idx, dtype=np.int64))

    def scaled(self, scale: np.ndarray) -> ScaledCodes:
        """These codes times `scale` per dim, from the same cache: no image is encoded twice."""
        return ScaledCodes(self, scale)

    def _encode(self, idx: np.ndarray) -> np.ndarray:
        missing = np.unique(idx[~self._have[idx]])
        for start in range(0, missing.size, self.batch_size):
            chunk = missing[start:start + self.batch_size]
            out = np.asarray(self.representation_function(self.dataset.images(chunk)))
            if out.ndim != 2 or out.shape[0] != chunk.size:
                raise MetricInputError(
                    f"representation_function must return codes of shape ({chunk.size}, d) for {chunk.size} "
                    f"images, got shape {out.shape}"
                )
            if not np.issubdtype(out.dtype, np.number) or not np.isfinite(out).all():
                raise MetricInputError("representation_function returned NaN, infinite or non-numeric codes")
            if self._codes is None:
                self._codes = np.empty((len(self._have), out.shape[1]), dtype=np.float64)
            elif out.shape[1] != self._codes.shape[1]:
                raise MetricInputError(
                    f"representation_function returned {out.shape[1]} dims, earlier {self._codes.shape[1]}"
                )
            self._codes[chunk] = out
            self._have[chunk] = True
        return self._codes[idx]


class ScaledCodes(CodeSource):
    """A grid source's codes times a fixed per-dim scale (FactorVAE on standardised codes reads it)."""

    is_grid = True

    def __init__(self, source: CodeSource, scale: np.ndarray):
        self.source, self.scale = source, np.asarray(scale, dtype=np.float64)
        self.factor_sizes = source.factor_sizes

    @property
    def num_dims(self) -> int:
        return self.source.num_dims

    def sample_factors(self, num, random_state):
        return self.source.sample_factors(num, random_state)

    def codes_of(self, classes):
        return self.source.codes_of(classes) * self.scale

    def sample_keys(self, num, random_state):
        return self.source.sample_keys(num, random_state)

    def lookup(self, keys):
        codes, factors = self.source.lookup(keys)
        return codes * self.scale, factors


class RowSubset(LabelledCodes):
    """Some rows of an array source, drawn uniformly with replacement: one side of a disjoint train/test split."""

    def __init__(self, source: CodeSource, rows: np.ndarray):
        self.codes, self.factors = source.codes[rows], source.factors[rows]
        self.factor_sizes = source.factor_sizes
        self._reason = "a disjoint train/test split is no full factorial grid"


def disjoint_split(source: CodeSource, test_fraction: float, seed: int) -> tuple[RowSubset, RowSubset]:
    """(train, test) sources over disjoint rows of an array source, so no test point repeats a training row."""
    if not isinstance(source, (GridCodes, LabelledCodes)):
        raise MetricInputError("a disjoint train/test split needs codes and factors given as arrays")
    n = source.codes.shape[0]
    n_test = round(n * test_fraction)
    if n < 4 or not 1 <= n_test < n:
        raise MetricInputError(f"a disjoint train/test split needs at least 4 rows, got {n}")
    rows = np.random.RandomState(seed).permutation(n)
    return RowSubset(source, np.sort(rows[n_test:])), RowSubset(source, np.sort(rows[:n_test]))


def repeated_share(source: CodeSource, num_train: int) -> float | None:
    """Expected share of test draws whose row is also among `num_train` training draws (with replacement).

    None for a dataset source: there the protocol samples the factor grid itself, as disentanglement_lib does.
    """
    if not isinstance(source, (GridCodes, LabelledCodes)):
        return None
    n = source.codes.shape[0]
    return float(1.0 - (1.0 - 1.0 / n) ** int(num_train))


def as_source(codes, factors=None) -> CodeSource:
    """A CodeSource from arrays (a grid if they form one, labelled samples otherwise) or a given source."""
    if isinstance(codes, CodeSource):
        if factors is not None:
            raise MetricInputError("pass factors only with a codes array, not with a CodeSource")
        return codes
    if factors is None:
        raise MetricInputError("factors is required with a codes array")
    labelled = LabelledCodes(codes, factors)
    total = int(np.prod(labelled.factor_sizes, dtype=np.int64))
    if total == labelled.factors.shape[0]:
        try:
            return GridCodes(labelled.codes, labelled.factors)
        except MetricInputError:
            pass
    return labelled


def from_dataset(dataset, representation_function: Callable[[np.ndarray], np.ndarray],
                 batch_size: int = 256) -> DatasetCodes:
    """A CodeSource that encodes dataset images on demand (each image at most once)."""
    return DatasetCodes(dataset, representation_function, batch_size=batch_size)


def require_grid(source: CodeSource, metric: str) -> None:
    if not source.is_grid:
        raise MetricInputError(f"{metric}: " + source._not_grid_message())


def sample_batched(source: CodeSource, num: int, random_state: np.random.RandomState, batch_size: int = 16):
    """disentanglement_lib's `generate_batch_factor_code`: draws in batches of `batch_size`.

    Returns codes (num, d) and factor classes (num, F). The batch size matters: drawing 16 at a
    time gives different samples from drawing all at once.
    """
    if num < 1:
        raise MetricInputError(f"number of samples must be positive, got {num}")
    keys = [source.sample_keys(min(batch_size, num - i), random_state) for i in range(0, num, batch_size)]
    return source.lookup(np.concatenate(keys))
