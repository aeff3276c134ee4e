#!/usr/bin/env bash
# GPU verification in one go, sized to finish within ~9 minutes on an H100 (each step has a time cap):
#   1. build   fastlayers._C with the CUDA kernels (cmake, FASTLAYERS_CUDA=ON, CUDA_ARCH=90 by default) and
#              copy it into python/fastlayers/
#   2. tests   tests/test_cuda.py and tests/test_torch_cuda.py
#   3. sanitize compute-sanitizer memcheck + racecheck on a small subset (tests/cuda_sanitize.sh)
#   4. bench   python bench/compare.py --device cuda (a short run)
# Every step's output goes to $OUT/<step>.log (OUT defaults to ./gpu_check_out), a line per step to
# $OUT/summary.txt; a failed step does not stop the later ones (except a failed build). Exit status: 0 when
# every step passed, 1 otherwise, 2 for a usage or plumbing error.
#
#   tests/gpu_check.sh              # on a machine with an NVIDIA GPU, the CUDA toolkit, torch and CuPy
#   tests/gpu_check.sh --dry-run    # anywhere: prints the steps and checks the files and commands they need
#                                   # (run by tests/test_hardening_gpu_check.py, so CI keeps it from rotting)
# Knobs (environment): OUT, CUDA_ARCH (90), JOBS (nproc), CAP_BUILD (270 s), CAP_TESTS (150 s),
# CAP_SANITIZE (90 s), CAP_BENCH (60 s), SANITIZE_K (pytest -k of the sanitizer subset), BENCH_ARGS.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DRY=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument '$a' (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done

OUT=${OUT:-$ROOT/gpu_check_out}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
CAP_BUILD=${CAP_BUILD:-270}
CAP_TESTS=${CAP_TESTS:-150}
CAP_SANITIZE=${CAP_SANITIZE:-90}
CAP_BENCH=${CAP_BENCH:-60}
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || PY=python
# One or two cases per kernel family; small shapes keep the instrumented run short.
SANITIZE_K=${SANITIZE_K:-"conv2d_cuda_matches and mb2ic3 and float32 or softmax_cuda_matches and True-shape0 \
or batch_norm_cuda_matches_torch_and_cpu and True or linear_cuda_matches and m130 and True-float32 \
or max_and_avg_pool and False"}
BENCH_ARGS=${BENCH_ARGS:-"--reps 5 --warmup 2 --modes fwd+bwd --dtypes float32"}
BUILD_DIR=$ROOT/build/gpu_check

STEPS=(build tests sanitize bench)
declare -A CAP=([build]=$CAP_BUILD [tests]=$CAP_TESTS [sanitize]=$CAP_SANITIZE [bench]=$CAP_BENCH)
declare -A CMD
CMD[build]="PB=\$($PY -c 'import pybind11; print(pybind11.get_cmake_dir())') && \
cmake -S . -B '$BUILD_DIR' -DCMAKE_BUILD_TYPE=Release -DFASTLAYERS_CUDA=ON -DFASTLAYERS_PYTHON=ON \
-DFASTLAYERS_CPP_TESTS=OFF -DFASTLAYERS_CPP_BENCH=OFF -DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH \
-DPython_EXECUTABLE=\$(command -v $PY) -Dpybind11_DIR=\$PB \$(command -v ninja >/dev/null && echo -GNinja) && \
cmake --build '$BUILD_DIR' -j$JOBS --target _C && cp '$BUILD_DIR'/_C*.so python/fastlayers/"
CMD[tests]="PYTHONPATH=python $PY -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py tests/test_torch_cuda.py"
CMD[sanitize]="PYTHON=$PY tests/cuda_sanitize.sh '$SANITIZE_K'"
CMD[bench]="PYTHONPATH=python $PY bench/compare.py --device cuda $BENCH_ARGS --json '$OUT/bench_cuda.json'"

total=0
for s in "${STEPS[@]}"; do total=$((total + CAP[$s])); done

if [ "$DRY" = 1 ]; then
  echo "gpu_check --dry-run: $total s of caps in all; logs would go to $OUT"
  for s in "${STEPS[@]}"; do echo "step $s (cap ${CAP[$s]} s): ${CMD[$s]}"; done
  bad=0
  need() { if ! eval "$2" >/dev/null 2>&1; then echo "MISSING: $1"; bad=1; else echo "ok: $1"; fi; }
  for f in CMakeLists.txt tests/test_cuda.py tests/test_torch_cuda.py bench/compare.py bench/cuda_bench.py; do
    need "file $f" "[ -f '$f' ]"
  done
  need "tests/cuda_sanitize.sh is executable" "[ -x tests/cuda_sanitize.sh ]"
  need "tests/cuda_sanitize.sh parses" "bash -n tests/cuda_sanitize.sh"
  need "command $PY" "command -v $PY"
  need "command cmake" "command -v cmake"
  need "command timeout" "command -v timeout"
  need "python module pybind11 (for the build)" "$PY -c 'import pybind11'"
  need "CMakeLists.txt has the FASTLAYERS_CUDA switch" "grep -q FASTLAYERS_CUDA CMakeLists.txt"
  need "bench/compare.py hands --device cuda to bench/cuda_bench.py" \
       "grep -q 'wants_cuda' bench/compare.py && grep -q -- '--dtypes' bench/cuda_bench.py"
  # every pytest selection collects (the CUDA tests skip here, but they must exist); DRY_RUN_PYTHONPATH names an
  # installed fastlayers where the source tree has no built _C (CI)
  DRY_PP=${DRY_RUN_PYTHONPATH:-python}
  need "tests step collects its tests" "PYTHONPATH=$DRY_PP $PY -m pytest -q -p no:cacheprovider --collect-only \
tests/test_cuda.py tests/test_torch_cuda.py"
  n=$(PYTHONPATH=$DRY_PP $PY -m pytest -q -p no:cacheprovider --collect-only tests/test_cuda.py -k "$SANITIZE_K" \
      2>/dev/null | grep -c '::')
  need "sanitizer subset selects tests ($n)" "[ '$n' -gt 0 ]"
  for t in nvcc compute-sanitizer nvidia-smi; do
    command -v "$t" >/dev/null 2>&1 && echo "present: $t" || echo "absent here (needed on the GPU machine): $t"
  done
  [ "$bad" = 0 ] && { echo "gpu_check --dry-run: plumbing ok"; exit 0; }
  echo "gpu_check --dry-run: plumbing broken"; exit 2
fi

mkdir -p "$OUT"
: >"$OUT/summary.txt"
# tests/cuda_sanitize.sh runs 'python': where only python3 exists (the GPU image), a shim stands in
if ! command -v python >/dev/null 2>&1; then
  mkdir -p "$BUILD_DIR/bin" && ln -sf "$(command -v "$PY")" "$BUILD_DIR/bin/python" && export PATH="$BUILD_DIR/bin:$PATH"
fi
status=0
built=1
for s in "${STEPS[@]}"; do
  if [ "$built" = 0 ] && [ "$s" != build ]; then
    echo "$s: skipped (build failed)" | tee -a "$OUT/summary.txt"; status=1; continue
  fi
  echo "== $s (cap ${CAP[$s]} s): ${CMD[$s]}"
  t0=$(date +%s)
  timeout --kill-after=10 "${CAP[$s]}" bash -c "${CMD[$s]}" >"$OUT/$s.log" 2>&1
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  tail -n 5 "$OUT/$s.log"
  if [ "$rc" = 0 ]; then verdict=passed
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then verdict="TIMED OUT (cap ${CAP[$s]} s)"
  elif [ "$s" = sanitize ] && [ "$rc" = 2 ]; then verdict="NOT RUN (no sanitizer or no device, see log)"
  else verdict="FAILED (exit $rc)"; fi
  echo "$s: $verdict in ${dt}s" | tee -a "$OUT/summary.txt"
  [ "$rc" = 0 ] || status=1
  [ "$s" = build ] && [ "$rc" != 0 ] && built=0
done
echo "gpu_check: $( [ $status = 0 ] && echo all steps passed || echo some steps failed ); logs in $OUT"
exit $status
