"""The environment report for bug reports (as torch.utils.collect_env): `python -m fastlayers`.

Reads versions from package metadata, so torch and CuPy are named without being imported."""
import os
import platform
import sys
from importlib import metadata


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def get_env_info():
    """A dict of what a bug report needs: versions, how the extension was built, SIMD and threads, CUDA."""
    import fastlayers
    from fastlayers import _C, cuda

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    cupy = next((v for v in (_version(d) for d in ("cupy-cuda13x", "cupy-cuda12x", "cupy")) if v), None)
    return {
        "fastlayers": fastlayers.__version__,
        "build": dict(_C.build_info()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": {"logical": os.cpu_count(), "affinity_mask": affinity},
        "simd": {"running": _C.simd_level(), "best_available": _C.max_simd_level(),
                 "forced_by_FASTLAYERS_SIMD": os.environ.get("FASTLAYERS_SIMD")},
        "threads": {"count": fastlayers.get_num_threads(), "source": _C.num_threads_source()},
        "cuda": {"built": cuda.is_built(), "available": cuda.is_available(), "devices": cuda.device_count()},
        "packages": {"numpy": _version("numpy"), "cupy": cupy, "torch": _version("torch")},
    }


def pretty_str(info):
    lines = []
    for key, value in info.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {k}: {'(none)' if v in (None, '') else v}" for k, v in value.items())
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def main():
    print(pretty_str(get_env_info()))


if __name__ == "__main__":
    main()
