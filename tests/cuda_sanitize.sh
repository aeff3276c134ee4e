#!/usr/bin/env bash
# Runs a representative subset of tests/test_cuda.py under NVIDIA compute-sanitizer: memcheck (out-of-bounds
# and misaligned accesses, with leak checking) and racecheck (shared-memory hazards: the block reductions,
# the GEMM tiles, the WMMA staging buffers). Needs a GPU, the CUDA toolkit's compute-sanitizer and CuPy;
# exits 2 with a message where one is missing, 99 on the first sanitizer error.
#
#   tests/cuda_sanitize.sh                    # memcheck, then racecheck, on the default subset
#   TOOLS="memcheck" tests/cuda_sanitize.sh   # one tool
#   tests/cuda_sanitize.sh "linear or half"   # another pytest -k expression
#   SANITIZER_ARGS="--kernel-name kns=loader_gemm" tests/cuda_sanitize.sh   # only some kernels
#
# torch's own CUDA kernels (the references in these tests) run under the sanitizer too; expect a run of
# several minutes, mostly spent in instrumentation.
set -euo pipefail
cd "$(dirname "$0")/.."

SAN=${COMPUTE_SANITIZER:-compute-sanitizer}
if ! command -v "$SAN" >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
    [ -x "$d/compute-sanitizer" ] && SAN="$d/compute-sanitizer" && break
  done
fi
command -v "$SAN" >/dev/null 2>&1 || { echo "cuda_sanitize: compute-sanitizer not found (set COMPUTE_SANITIZER)"; exit 2; }

export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
python -c "import fastlayers, sys; sys.exit(0 if fastlayers.cuda.is_available() else 1)" ||
  { echo "cuda_sanitize: no CUDA device (or fastlayers built without CUDA): nothing to check"; exit 2; }

# One or two cases per kernel family, float32 and the half types; small shapes keep the run short.
DEFAULT_K="conv2d_cuda_matches and mb2ic3 or conv2d_cuda_weight_gradient or conv_transpose2d_cuda and mb2ic4 \
or linear_cuda_matches and m130 or cross_entropy_cuda_matches and float32 or cross_entropy_cuda_reports \
or batch_norm_cuda or group_norm_cuda_backward or softmax_cuda_matches or max_and_avg_pool or adaptive_pool \
or upsample_cuda and bilinear or dropout_mask_is_the_same or half_linear or half_conv2d and mb2ic3 \
or half_norms_and_pooling or half_activation"
K=${1:-$DEFAULT_K}
TOOLS=${TOOLS:-"memcheck racecheck"}

for tool in $TOOLS; do
  extra=()
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  echo "== compute-sanitizer --tool $tool: tests/test_cuda.py -k \"$K\""
  # shellcheck disable=SC2086  # SANITIZER_ARGS is a list of options
  "$SAN" --tool "$tool" --error-exitcode 99 --target-processes all "${extra[@]}" ${SANITIZER_ARGS:-} \
    python -m pytest -q -x -p no:cacheprovider tests/test_cuda.py -k "$K"
done
echo "cuda_sanitize: no sanitizer errors ($TOOLS)"
