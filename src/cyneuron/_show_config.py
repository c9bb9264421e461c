"""``cyneuron.show_config()``: which compute path is active, how it was built, which BLAS it calls."""

from __future__ import annotations

import os
import platform

_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _cpu_features() -> list[str]:
    """The SIMD extensions this CPU reports (Linux /proc/cpuinfo; [] elsewhere)."""
    wanted = ("sse2", "avx", "avx2", "fma", "avx512f")
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [name for name in wanted if name in flags]
    except OSError:
        pass
    return []


def _blas() -> list[dict] | str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl): BLAS unknown, thread policy inactive"
    keep = (
        "user_api",
        "internal_api",
        "prefix",
        "version",
        "architecture",
        "threading_layer",
        "num_threads",
        "filepath",
    )
    return [{key: info.get(key) for key in keep} for info in threadpool_info() if info.get("user_api") == "blas"]


def _owner(filepath: str | None) -> str:
    """Whose copy of the BLAS a library file is: scipy's is the one the compiled kernels call."""
    parts = (filepath or "").replace("\\", "/").split("/")
    if any(p in ("scipy", "scipy.libs", "scipy_openblas32") for p in parts):
        return " (scipy's: the compiled kernels call it)"
    if any(p in ("numpy", "numpy.libs", "scipy_openblas64") for p in parts):
        return " (NumPy's: the numpy backend and NumPy code)"
    return ""


def config_info() -> dict:
    """The facts ``show_config`` prints, as a dict (keys: backend, build, simd, product_path, cpu, blas, threads)."""
    from cyneuron import _simd, _threads
    from cyneuron.backend import get_backend

    info: dict = {"backend": get_backend(), "python": platform.python_version(), "machine": platform.machine()}
    try:
        from cyneuron import _core

        info["build"] = _core.build_info()
        info["product_path"] = _core.get_product_path()
    except ImportError as error:
        info["build"] = f"compiled kernels not available ({error})"
        info["product_path"] = None
    info["simd"] = {
        "active": _simd.active,
        "reason": _simd.reason,
        "supported": _simd.supported(),
        "env": _simd.ENV_VAR,
    }
    info["cpu"] = {"usable_cores": _threads.usable_cores(), "simd": _cpu_features()}
    if info["backend"] == "cython":
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call: load it before asking)
    info["blas"] = _blas()
    override = _threads.get_override()
    info["threads"] = {
        "policy": f"fixed at {override} (set_blas_threads / {_threads.ENV_VAR})" if override else "auto",
        "parallel_min_macs": _threads.PARALLEL_MIN_MACS,
        "env": {
            k: os.environ[k] for k in (_threads.ENV_VAR, "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ
        },
        "last_fit": dict(_threads.last_decision) or None,
    }
    return info


def show_config(print_fn=print) -> dict:
    """Print which backend is active, the compiled kernels' build, the BLAS and the thread policy.

    Returns the same facts as a dict (``config_info()``); ``print_fn=None`` prints nothing.
    """
    info = config_info()
    if print_fn is None:
        return info
    lines = [f"cyneuron backend: {info['backend']} (Python {info['python']}, {info['machine']})"]
    build = info["build"]
    if isinstance(build, dict):
        lines.append(
            f"  kernels built for: {build['instruction_set']}, FMA instructions {'yes' if build['fma'] else 'no'}, "
            f"{'optimised' if build['optimized'] else 'NOT optimised'} ({build['compiler']})"
        )
        simd = info["simd"]
        lines.append(
            f"  SIMD path: {simd['active']} ({simd['reason']}; this machine runs {', '.join(simd['supported'])}; "
            f"{simd['env']}= forces one)"
        )
        lines.append(f"  dense products: {info['product_path']} (default of new networks)")
    else:
        lines.append(f"  kernels: {build}")
    cpu = info["cpu"]
    lines.append(f"  CPU: {cpu['usable_cores']} usable cores; SIMD {', '.join(cpu['simd']) or 'unknown'}")
    if isinstance(info["blas"], str):
        lines.append(f"  BLAS: {info['blas']}")
    else:
        for lib in info["blas"]:
            lines.append(
                f"  BLAS{_owner(lib['filepath'])}: {lib['internal_api']} {lib['version']} ({lib['prefix']}, "
                f"{lib['architecture']} kernels, {lib['threading_layer']}, {lib['num_threads']} threads) "
                f"{lib['filepath']}"
            )
    threads = info["threads"]
    lines.append(f"  BLAS threads in fit: {threads['policy']}")
    if threads["env"]:
        lines.append("  environment: " + ", ".join(f"{k}={v}" for k, v in threads["env"].items()))
    if threads["last_fit"]:
        last = threads["last_fit"]
        lines.append(f"  last fit: {last['threads']} thread(s): {last['reason']}")
    print_fn("\n".join(lines))
    return info
