"""emu_bounds.py — what the NumPy kernel emulators (gla_emulate.py,
delta_kernels.py, flash_emulate.py, softmax_emulate.py) share: bf16
rounding, and arrays that refuse an index outside them, as a GPU buffer would
be overrun: NumPy raises IndexError past the end of an axis, but a negative
index silently wraps to the end and a slice running past the end is
silently cut short, and either would hide an out-of-bounds access of the
kernel being emulated. The emulators keep global tensors and each
shared-memory region in a Bounded array of the region's exact size, so an
index the kernel computes outside its buffer fails the test.

Every operation here names its integer types: NumPy 1.x casts a Python int
operand by its value (a uint64 array shifted by 16 becomes float64 and the
shift fails), NumPy 2 by its type (NEP 50). int64 arithmetic on the uint32
bits gives the same answer under both.
"""
import numpy as np


def bf(x):
    """x rounded to bf16 (nearest, ties to even), kept as float32: the
    float32 bits plus 0x7FFF plus the lowest kept bit, cut to the top 16."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.int64)
    u = (u + np.int64(0x7FFF) + ((u >> np.int64(16)) & np.int64(1))) & np.int64(0xFFFF0000)
    return u.astype(np.uint32).view(np.float32)


def _check(shape, key):
    keys = key if isinstance(key, tuple) else (key,)
    for ax, k in enumerate(keys):
        if k is Ellipsis or k is None or ax >= len(shape):
            return                      # axes no longer line up: leave it to NumPy
        n = shape[ax]
        if isinstance(k, (bool, np.bool_)):
            return
        if isinstance(k, (int, np.integer)):
            if not 0 <= k < n:
                raise IndexError(f"index {int(k)} outside [0, {n}) on axis {ax}")
        elif isinstance(k, slice):
            for x in (k.start, k.stop):
                if x is not None and not 0 <= x <= n:
                    raise IndexError(f"slice {k.start}:{k.stop} outside [0, {n}] on axis {ax}")
        else:
            a = np.asarray(k)
            if a.dtype.kind in "iu" and a.size and (a.min() < 0 or a.max() >= n):
                raise IndexError(f"index {int(a.min())}..{int(a.max())} outside [0, {n}) on axis {ax}")


class Bounded(np.ndarray):
    """An ndarray whose integer and slice indices must lie inside each axis."""

    def __getitem__(self, key):
        _check(self.shape, key)
        return np.ndarray.__getitem__(self, key)

    def __setitem__(self, key, value):
        _check(self.shape, key)
        np.ndarray.__setitem__(self, key, value)


def bounded(a):
    """a as a Bounded array (no copy); None stays None."""
    return None if a is None else np.asarray(a).view(Bounded)


def masked(idx, ok):
    """Indices of a masked gather: idx where the lane reads, 0 where it does
    not (np.where evaluates both branches, so the idle lanes must not carry
    an index past the buffer; the active ones are checked as they are)."""
    return np.where(ok, idx, 0)


def selftest():
    """True when the accesses NumPy lets through are refused: a negative
    index, a slice past the end, an index array reaching past the end."""
    a = bounded(np.zeros((4, 8), np.float32))
    for bad in (lambda: a[-1], lambda: a[1, -2], lambda: a[2, 6:10], lambda: a[np.arange(5)],
                lambda: a.reshape(-1)[np.array([0, 32])]):
        try:
            bad()
            return False
        except IndexError:
            pass
    a[3, 7] = 1.0
    return a[3, 0:8].sum() == 1.0 and a[np.arange(4), 7].sum() == 1.0
