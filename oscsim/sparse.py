"""Symmetric sparse coupling matrices in CSR form, built from an undirected edge list.

The coupling matrix K has K_ij = K_ji = k_e for every edge e = (i, j). It is stored as a CSR
pattern computed once per graph; only its values change (per segment, per training step).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


def _csr(crow: Tensor, col: Tensor, values: Tensor, n: int) -> Tensor:
    """Build a CSR tensor without torch's beta-state and invariant-check warnings (the pattern is
    valid by construction; torch 2.11 on CUDA warns of unchecked invariants even when told)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)


class CouplingPattern:
    """CSR sparsity pattern of the symmetric N×N coupling matrix of an undirected edge list.

    Args:
        edges: ``[2, E]`` integer tensor, each undirected edge listed once, no self loops.
        n_osc: number of oscillators N.
    """

    def __init__(self, edges: Tensor, n_osc: int) -> None:
        edges = torch.as_tensor(edges)
        if edges.dim() != 2 or edges.shape[0] != 2 or edges.dtype.is_floating_point:
            raise ValueError(f"edges must be an integer tensor of shape [2, E], got {edges.shape}")
        edges = edges.long()
        if edges.numel() and (edges.min() < 0 or edges.max() >= n_osc):
            raise ValueError(f"edge endpoints must lie in 0..{n_osc - 1}")
        if bool((edges[0] == edges[1]).any()):
            raise ValueError("edges contain a self loop; an oscillator cannot couple to itself")
        lo, hi = torch.minimum(edges[0], edges[1]), torch.maximum(edges[0], edges[1])
        if torch.unique(lo * n_osc + hi).numel() != edges.shape[1]:
            raise ValueError("edges list an undirected edge twice; list each edge once")
        self.n_osc = n_osc
        self.n_edges = edges.shape[1]
        self.edges = edges
        rows = torch.cat([edges[0], edges[1]])
        cols = torch.cat([edges[1], edges[0]])
        # perm[p] is the index into cat(k, k) of the p-th stored (CSR-ordered) value.
        self.perm = torch.argsort(rows * n_osc + cols)
        # int32 indices: with int64 ones every sparse product first converts them (measured 2×).
        index = torch.int32 if 2 * self.n_edges < 2**31 else torch.int64
        self.col = cols[self.perm].to(index).contiguous()
        counts = torch.bincount(rows, minlength=n_osc)
        self.crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)]).to(index)

    def to(self, device: torch.device | str) -> CouplingPattern:
        """Return a copy whose index tensors live on ``device``."""
        out = object.__new__(CouplingPattern)
        out.__dict__.update(
            {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()}
        )
        return out

    @property
    def device(self) -> torch.device:
        """Device of the index tensors."""
        return self.col.device

    def edge_sums(self, entries: Tensor) -> Tensor:
        """Per-edge sums ``[E]`` of values given per stored (CSR-ordered) entry ``[2E]``: the
        gradient of an edge value from the gradients of its two entries (i, j) and (j, i)."""
        per_entry = torch.empty_like(entries)
        per_entry[self.perm] = entries
        return per_entry[: self.n_edges] + per_entry[self.n_edges :]

    def matrix(self, k: Tensor) -> Tensor:
        """The CSR coupling matrix for edge values ``k`` of shape ``[E]`` (not differentiable)."""
        values = torch.cat([k, k]).detach()[self.perm]
        return _csr(self.crow, self.col, values, self.n_osc)


def sparse_mm(mat: Tensor, x: Tensor) -> Tensor:
    """``mat @ x`` for a CSR ``mat``, writing into a fresh output (no zero fill, see benchmarks)."""
    out = x.new_empty(mat.shape[0], x.shape[1])
    return torch.addmm(out, mat, x, beta=0.0, out=out)


def dense_matrix(k: Tensor, pattern: CouplingPattern) -> Tensor:
    """The dense N×N coupling matrix (differentiable): for references and small checks only."""
    out = k.new_zeros(pattern.n_osc, pattern.n_osc)
    i, j = pattern.edges.to(k.device)
    return out.index_put((i, j), k).index_put((j, i), k, accumulate=True)
