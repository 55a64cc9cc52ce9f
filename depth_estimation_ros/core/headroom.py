"""Host buffers that keep room for a message header in front of each payload.

A 640×480 coloured cloud is 9.8 MB. Encoding it for DDS the usual way copies it into a new
CDR buffer behind the message's header fields; publishing then copies it again into the
writer's sample. When the payload already has free, writable bytes in front of it (and a few
behind), the encoder can write the header fields there and hand the writer the payload where
it lies: one copy fewer, and none of it on never-touched pages. The idea is the Linux
``sk_buff`` headroom.

`allocate` lays several payloads out in one uint8 storage array,
``[HEADROOM | payload 0 | HEADROOM | payload 1 | ... | TAILROOM]``, every payload 4-byte
aligned, and registers the storage; `locate` finds, for any view of a payload, the registered
storage and the payload's offset in it. Nothing outside a payload's own bytes is ever
visible to the caller, so writing headers into the gaps cannot change data anyone holds.
Storage is fresh per call (not reused), so results stay valid for as long as they are held.
No ROS, DDS or torch imports.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HEADROOM", "TAILROOM", "FrameStorage", "allocate", "locate", "register"]

HEADROOM = 4096  # bytes before each payload: a CDR header with a frame_id of ~3.8 kB fits
TAILROOM = 64  # bytes after the last payload: trailing fields and padding to 4 bytes

# id(storage) -> storage, for storages made here (weak: storage dies with its last view)
_REGISTRY: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class FrameStorage:
    """Payloads laid out with headroom in one registered storage.

    Attributes:
        storage: the whole 1-D uint8 array.
        span: the part from the first payload's start to the last one's end, gaps included
            (what one device→host copy fills).
        payloads: one 1-D uint8 view per requested size, in order.
    """

    storage: np.ndarray
    span: np.ndarray
    payloads: tuple[np.ndarray, ...]


def register(storage: np.ndarray) -> np.ndarray:
    """Mark a 1-D, C-contiguous, writable uint8 array as headroom storage; returns it.

    Raises:
        ValueError: the array is not one.
    """
    if (storage.ndim != 1 or storage.dtype != np.uint8 or not storage.flags.c_contiguous
            or not storage.flags.writeable):
        raise ValueError(f"headroom storage must be a writable 1-D C-contiguous uint8 array; "
                         f"got shape {storage.shape}, dtype {storage.dtype}")
    _REGISTRY[id(storage)] = storage
    return storage


def _layout(sizes: Sequence[int]) -> tuple[list[int], int]:
    offsets, end = [], 0
    for n in sizes:
        if n < 0 or n % 4:
            raise ValueError(f"payload sizes must be non-negative multiples of 4; got {n}")
        offsets.append(end + HEADROOM)
        end = offsets[-1] + n
    return offsets, end + TAILROOM


def allocate(sizes: Sequence[int], empty: Any = None) -> FrameStorage:
    """Fresh registered storage for payloads of ``sizes`` bytes (multiples of 4).

    Args:
        sizes: payload sizes in bytes, at least one.
        empty: ``empty(nbytes) -> 1-D uint8 ndarray`` making the storage (default
            ``np.empty``; e.g. a pinned-memory allocator for fast device→host copies).
            The contents start undefined.
    """
    if not sizes:
        raise ValueError("allocate() needs at least one payload size")
    offsets, total = _layout(sizes)
    storage = register((empty or (lambda n: np.empty(n, np.uint8)))(total))
    payloads = tuple(storage[o: o + n] for o, n in zip(offsets, sizes, strict=True))
    return FrameStorage(storage, storage[offsets[0]: offsets[-1] + sizes[-1]], payloads)


def locate(payload: Any) -> tuple[np.ndarray, int] | None:
    """The registered storage ``payload``'s bytes lie in, and their offset there.

    Args:
        payload: a numpy array or a memoryview of one (any view of a payload: reshaped,
            re-typed, sliced), contiguous.

    Returns:
        ``(storage, offset)``, or None when the bytes are not in registered storage (then
        nothing may be written around them).
    """
    obj = payload.obj if isinstance(payload, memoryview) else payload
    if not isinstance(obj, np.ndarray):
        return None
    root: np.ndarray | None = obj
    while root is not None and _REGISTRY.get(id(root)) is not root:
        root = root.base if isinstance(root.base, np.ndarray) else None
    if root is None:
        return None
    view = np.frombuffer(payload, np.uint8) if isinstance(payload, memoryview) else payload
    if not view.flags.c_contiguous:
        return None
    offset = view.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if offset < 0 or offset + view.nbytes > root.nbytes:
        return None
    return root, offset
