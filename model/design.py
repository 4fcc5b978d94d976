"""The bayes model's design matrix, stored the way its columns are made.

The model's columns are the configured features (dense, a few dozen) followed by the
cells of the watched pairs (hundreds, but each proposal sits in at most one cell of
each pair). Storing the cells as one index per proposal and pair, rather than as a
dense 0/1 block, makes each Newton step of the fit cost about as much as one without
pairs: the Gram matrix's cell blocks are sums over the proposals of each cell (or pair
of cells), not products of mostly zero columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np


class Design:
    """A design matrix Z = [dense | cells], with the products Newton's method needs.

    `dense` holds Z's first columns; `cells` its last ones, the pairs' cells, 0/1 with
    at most one 1 per row within each of `spans` (each pair's (start, stop) columns in
    Z, contiguous, in order). Build with `from_matrix` or `standardised`, which check.
    """

    def __init__(self, dense: np.ndarray, cells: np.ndarray | None = None,
                 spans: Sequence[tuple[int, int]] = ()) -> None:
        self.dense = np.ascontiguousarray(dense)
        self.n, self.first = self.dense.shape
        self.p = self.first + (0 if cells is None else cells.shape[1])
        self.spans = [(start, stop) for start, stop in spans]
        self.cells: list[np.ndarray] = []  # per pair: each row's column in Z, or -1
        self.sorted: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start, stop in self.spans:
            assert cells is not None
            block = cells[:, start - self.first:stop - self.first]
            index = np.where(block.any(axis=1), start + block.argmax(axis=1), -1)
            self.cells.append(index)
            rows = np.flatnonzero(index >= 0)
            rows = rows[np.argsort(index[rows], kind="stable")]
            columns, starts = np.unique(index[rows], return_index=True)
            self.sorted.append((rows, columns, starts))

    @classmethod
    def from_matrix(cls, Z: np.ndarray, spans: Sequence[tuple[int, int]] = ()) -> Design:
        """Z as given; its `spans` are stored as cells when they are one-hot (else dense)."""
        first = min((start for start, _ in spans), default=Z.shape[1])
        if not spans or not _one_hot_blocks(Z, spans, first):
            return cls(Z)
        return cls(Z[:, :first], Z[:, first:], spans)

    def dot(self, theta: np.ndarray) -> np.ndarray:
        """Z @ theta."""
        out = self.dense @ theta[:self.first]
        for index in self.cells:
            inside = index >= 0
            out[inside] += theta[index[inside]]
        return out

    def t_dot(self, r: np.ndarray) -> np.ndarray:
        """Z.T @ r."""
        out = np.zeros(self.p)
        out[:self.first] = self.dense.T @ r
        for index in self.cells:
            inside = index >= 0
            out += np.bincount(index[inside], weights=r[inside], minlength=self.p)
        return out

    def gram(self, v: np.ndarray) -> np.ndarray:
        """Z.T @ diag(v) @ Z."""
        out = np.zeros((self.p, self.p))
        weighted = self.dense * v[:, None]
        out[:self.first, :self.first] = self.dense.T @ weighted
        for g, (rows, columns, starts) in enumerate(self.sorted):
            if rows.size:
                sums = np.add.reduceat(weighted[rows], starts, axis=0)
                out[columns, :self.first] = sums
                out[:self.first, columns] = sums.T
            for h in range(g, len(self.cells)):
                self._cell_block(g, h, v, out)
        return out

    def _cell_block(self, g: int, h: int, v: np.ndarray, out: np.ndarray) -> None:
        """Add pair g's cells against pair h's (a diagonal when g == h) to `out`."""
        mine, theirs = self.cells[g], self.cells[h]
        if g == h:
            inside = mine >= 0
            counts = np.bincount(mine[inside], weights=v[inside], minlength=self.p)
            out[np.diag_indices(self.p)] += counts
            return
        both = (mine >= 0) & (theirs >= 0)
        a, b = mine[both], theirs[both]
        (a0, a1), (b0, b1) = self.spans[g], self.spans[h]
        flat = (a - a0) * (b1 - b0) + (b - b0)
        block = np.bincount(flat, weights=v[both], minlength=(a1 - a0) * (b1 - b0))
        block = block.reshape(a1 - a0, b1 - b0)
        out[a0:a1, b0:b1] += block
        out[b0:b1, a0:a1] += block.T


class Reordered:
    """A design whose columns are another's in a different order: column `order[k]` of
    this design is column k of `inner`. Dense columns that come after the pair cells (a
    product of two numbers is encoded last) are stored before them this way, so the
    cells keep their cheap products."""

    def __init__(self, inner: Design, order: np.ndarray) -> None:
        self.inner, self.order = inner, np.asarray(order)
        self.n, self.p = inner.n, inner.p

    def dot(self, theta: np.ndarray) -> np.ndarray:
        """Z @ theta."""
        return self.inner.dot(theta[self.order])

    def t_dot(self, r: np.ndarray) -> np.ndarray:
        """Z.T @ r."""
        out = np.empty(self.p)
        out[self.order] = self.inner.t_dot(r)
        return out

    def gram(self, v: np.ndarray) -> np.ndarray:
        """Z.T @ diag(v) @ Z."""
        inner = self.inner.gram(v)
        out = np.empty_like(inner)
        out[np.ix_(self.order, self.order)] = inner
        return out


def standardised(X: np.ndarray, center: np.ndarray, unit: np.ndarray,
                 pooled: Sequence[tuple[int, int]]) -> Design | Reordered:
    """The design [1, (X - center) / unit] of encoded rows X whose `pooled` column spans
    (in X) are pair cells: with center 0 and unit 1 they enter as they are, and only the
    dense columns are standardised (copying the cells would cost more than a fit step).
    Columns after the cells (products) are stored before them (`Reordered`)."""
    first = min((start for start, _ in pooled), default=X.shape[1])
    last = max((stop for _, stop in pooled), default=X.shape[1])
    if pooled and last < X.shape[1]:
        tail = X.shape[1] - last
        order = np.r_[np.arange(first), np.arange(last, X.shape[1]), np.arange(first, last)]
        inner = standardised(X[:, order], center[order], unit[order],
                             [(start + tail, stop + tail) for start, stop in pooled])
        assert isinstance(inner, Design)
        return Reordered(inner, np.r_[0, order + 1])
    spans = [(start + 1, stop + 1) for start, stop in pooled]
    plain = not np.any(center[first:]) and np.all(unit[first:] == 1)
    if not spans or not plain or not _one_hot_blocks(X, pooled, first):
        return Design.from_matrix(np.column_stack([np.ones(len(X)), (X - center) / unit]),
                                  spans)
    dense = np.column_stack([np.ones(len(X)), (X[:, :first] - center[:first]) / unit[:first]])
    return Design(dense, X[:, first:], spans)


def _one_hot_blocks(Z: np.ndarray, pooled: Sequence[tuple[int, int]], first: int) -> bool:
    """Whether the pooled columns are Z's last ones, contiguous, and 0/1 one-hot per pair."""
    if not pooled:
        return True
    spans = sorted(pooled)
    if spans[0][0] != first or spans[-1][1] != Z.shape[1] or any(
            a[1] != b[0] for a, b in pairwise(spans)):
        return False
    tail = Z[:, first:]
    if not np.all((tail == 0) | (tail == 1)):
        return False
    return all(Z[:, start:stop].sum(axis=1).max(initial=0) <= 1 for start, stop in pooled)
