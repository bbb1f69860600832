"""Encoder and muxer settings that make the same frames give the same bytes.

Measured causes of different bytes from identical input (see docs/architecture.md):

- x264 picks its thread count from the CPUs the process may use (1.5 per CPU, capped by the
  frame height), and the thread count changes the bitstream: 832x480 frames gave five different
  files at threads=1, 2, 3, 4 and 8, and `taskset -c 0` changed the default's output. A fixed
  count gives one bitstream wherever renga runs.
- x264's AVX-512 code reads uninitialised memory in its macroblock-tree pass: the same frames
  gave a different file for each `MALLOC_PERTURB_` value and in about half of fresh CLI
  processes. With AVX-512 left out (`asm=AVX2`, which every AVX-512 CPU has) or with mbtree off
  the output stopped depending on memory contents; the AVX2 output equals the AVX-512 output
  of the runs that were not disturbed, so nothing else changes.
- Matroska writes random segment and track UIDs unless the muxer is bit-exact.
"""

from __future__ import annotations

import functools

# Frame threads for x264: enough to keep a desktop busy at 720p; a fixed number, because
# the count is part of what x264 encodes.
X264_THREADS = "8"
X264_CODECS = frozenset({"libx264", "libx264rgb"})
# Container option that makes muxers write no random ids and no library version strings.
BITEXACT = {"fflags": "+bitexact"}


@functools.cache
def _has_avx512() -> bool:
    """Whether the CPU runs AVX-512 (numpy's own cpuid probe, OS support included)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        try:  # numpy 1.x
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return bool(features.get("AVX512F"))


def encoder_options(codec: str) -> dict[str, str]:
    """Options added to an encoder's own so its output depends only on its input frames."""
    if codec not in X264_CODECS:
        return {}
    options = {"threads": X264_THREADS}
    if _has_avx512():
        options["x264-params"] = "asm=AVX2"
    return options
