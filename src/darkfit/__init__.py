"""darkfit: liquid-xenon TPC dark-matter analysis in JAX.

Importing darkfit switches JAX to float64 (``jax_enable_x64``): likelihood and rate code
needs double precision (DESIGN.md).

It also turns on JAX's persistent compilation cache, so a likelihood or fit compiled once is
loaded from disk in later processes instead of recompiled (tens of seconds on a laptop CPU):
the cache lives in ``$DARKFIT_CACHE_DIR`` (default ``~/.cache/darkfit/jax``); set
``DARKFIT_CACHE_DIR=off`` to disable it. A user's own ``jax_compilation_cache_dir`` (set
before importing darkfit) is left alone.

And it passes arrays that compiled functions close over (quanta tables of tens of MB) to the
executable as arguments instead of embedding them in the program (JAX's
``jax_use_simplified_jaxpr_constants``, off by default in jax 0.10): embedded, each table was
copied several times during compilation (measured: compiling the flamedisx NR source's S1 side
peaked 440 MB above its resident memory, 0 MB with the flag). JAX reads that flag when it is
first imported, so it takes effect only when darkfit is imported before jax (results are the
same either way; only compilation memory differs).

On CPU it selects XLA's classic loop emitters instead of the MLIR fusion emitters
(``--xla_cpu_use_fusion_emitters=false`` appended to ``XLA_FLAGS`` unless that option is already
there): same results to the last bit on the flamedisx benchmark, and on its 1000-event
likelihood (2 cores, nothing cached) the 4-parameter fit takes 5.2 s instead of 6.4 s with
573 MB instead of 875 MB peak memory, the first value + gradient at 10^4 events 5.4 s instead
of 7.9 s (904 -> 638 MB), later calls 0.30 s instead of 0.36 s; the full path (S1 side
recomputed at every call) is 11% slower per call (0.32 vs 0.28 s at 10^3) but peaks at 831
instead of 1368 MB. XLA reads XLA_FLAGS when its CPU backend starts, i.e. at the first
computation, so this takes effect if darkfit is imported before anything is computed. jaxlib
0.11 removed that option (XLA aborts on an unknown one), so it is only set for older jaxlib.
"""

from __future__ import annotations

import os
from importlib.metadata import version as _version

os.environ.setdefault("JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS", "true")
# XLA aborts the process on an option it does not know; jaxlib 0.11 no longer has this one
_old_xla = tuple(int(v) for v in _version("jaxlib").split(".")[:2]) < (0, 11)
if _old_xla and "xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_use_fusion_emitters=false"
    ).strip()

import jax  # noqa: E402  (after the environment variables above)

jax.config.update("jax_enable_x64", True)


def _enable_compilation_cache() -> None:
    where = os.environ.get("DARKFIT_CACHE_DIR", os.path.expanduser("~/.cache/darkfit/jax"))
    if where.lower() == "off" or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", where)
    # cache every compilation that took longer than 0.2 s (JAX's default threshold is 1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


_enable_compilation_cache()

from ._errors import DarkfitInputError as DarkfitInputError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["DarkfitInputError", "__version__"]
