"""A kernel that cannot get its workspace raises MemoryError and leaves the library usable: no C++ exception
crosses an OpenMP region (that is std::terminate, SIGABRT). Runs in a subprocess with its address space
capped (RLIMIT_AS) just above what it already holds, so the per-thread scratch a task allocates inside the
parallel region is what fails."""
from hardening_subproc import run_isolated


def test_bad_alloc_inside_a_parallel_region_is_memory_error_and_the_next_call_works():
    out = run_isolated("""
        import resource
        fl.set_num_threads(2)
        _C.set_impl("conv2d", "gemm")  # the path whose tasks grow per-thread scratch inside the region
        def vm_size():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize"):
                    return int(line.split()[1]) * 1024
        # 3x3 on 128 x 128 takes the GEMM path on the phase grid: each (n, group) task builds its own phase
        # planes (~4 MB) in per-thread scratch, inside the parallel region.
        w = np.ones((64, 64, 3, 3), np.float32)
        x = np.ones((8, 64, 128, 128), np.float32)
        _C.conv2d_forward(x[:, :, :8, :8].copy(), w, None, (1, 1), (1, 1), (1, 1), 1)  # the thread team exists
        y = np.empty((8, 64, 128, 128), np.float32)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (vm_size() + (1 << 20), hard))
        print(outcome(lambda: _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1, out=y)).split(":")[0])
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)
        print(float(y[0, 0, 0, 0]), float(y[0, 0, 5, 5]))
    """)
    first, second = out.splitlines()
    assert first == "MemoryError", f"conv2d under a capped address space: expected MemoryError, got {first!r}"
    assert second == "256.0 576.0", f"conv2d after the MemoryError: corner and interior {second!r} (want 256, 576)"
