"""gsplat's CUDA kernels: built into the installed package, cached by an earlier run, or still to compile.

The gsplat wheel on PyPI carries no compiled kernels: its first use on a machine compiles them
(about a minute) into torch's extension cache (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``), where every later run finds them. ``l2t-avatar prebuild`` does
that step on purpose; installing gsplat from source (README, "Speed") puts them in the package.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

GSPLAT_JIT_NAME = "gsplat_cuda"  # the extension name gsplat's JIT build uses
_ready = False


def jit_cache_folder() -> Path:
    """Where gsplat's JIT build of the kernels lives (torch's extension cache)."""
    from torch.utils.cpp_extension import _get_build_directory

    return Path(_get_build_directory(GSPLAT_JIT_NAME, verbose=False))


def kernel_state() -> str:
    """'prebuilt' (compiled into the installed gsplat), 'cached' (an earlier JIT build) or 'compile'."""
    spec = importlib.util.find_spec("gsplat")  # found without importing it (its import is heavy)
    if spec is None:
        return "missing"
    if any(any(Path(folder).glob("csrc*.so")) for folder in spec.submodule_search_locations or ()):
        return "prebuilt"
    return "cached" if (jit_cache_folder() / f"{GSPLAT_JIT_NAME}.so").is_file() else "compile"


def ensure_kernels(log: Callable[[str], None] | None = None) -> str:
    """Load gsplat's kernels, compiling them first if no run has yet (says so through ``log``,
    since it takes about a minute). Returns the state they were found in (see kernel_state)."""
    global _ready
    if _ready:
        return "loaded"
    state = kernel_state()
    if state == "compile" and log is not None:
        log(f"note: compiling gsplat's CUDA kernels, once for this machine (about a minute); cached in {jit_cache_folder()}")
    from gsplat.cuda._backend import _C

    if _C is None:
        raise RuntimeError("gsplat's CUDA kernels could not be built (gsplat needs the CUDA toolkit, nvcc, to compile them)")
    _ready = True
    return state


def prebuild(log: Callable[[str], None] = print) -> tuple[str, float]:
    """Compile (or find) gsplat's kernels now; (the state they were found in, seconds taken)."""
    start = time.perf_counter()
    state = ensure_kernels(log)
    return state, time.perf_counter() - start
