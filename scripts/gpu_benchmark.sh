#!/usr/bin/env bash
# The GPU figures of docs/performance.md in one go (issue 5's H100 targets), on a machine
# with CUDA, PyTorch and cyclonedds importable, run from the repository root:
#
#     bash scripts/gpu_benchmark.sh OUT_DIR
#
# Writes six files to OUT_DIR: machine.txt, cuda_tests.txt, perf.json + perf.md (both
# variants, stages, end to end, ablation against plain fp32 eager), perf_b8.json (batch-8
# throughput) and perf_compile.json (the ablation with a torch.compile row). About 5 minutes
# on an H100. DEVICES, ITERATIONS and WARMUP override the defaults (cuda, 500, 50) and
# COMPILE=0 skips the torch.compile run, e.g. for a dry run of the script itself on a CPU:
# DEVICES=cpu ITERATIONS=2 WARMUP=0 COMPILE=0.
set -uo pipefail
out=${1:?usage: bash scripts/gpu_benchmark.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python3}
devices=${DEVICES:-cuda}
iterations=${ITERATIONS:-500}
warmup=${WARMUP:-50}
bench() { "$py" -m depth_estimation_ros.benchmark --devices "$devices" "$@"; }

{
    date -u
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,power.limit,driver_version --format=csv
    "$py" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__,
torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")'
} > "$out/machine.txt" 2>&1
cat "$out/machine.txt"

"$py" -m pytest -q -p no:cacheprovider test/test_estimator_gpu_path.py test/test_estimator.py \
    > "$out/cuda_tests.txt" 2>&1
echo "CUDA tests exit status $?" | tee -a "$out/cuda_tests.txt"
tail -3 "$out/cuda_tests.txt"

status=0
bench --variants eigen_vgg16,compact --iterations "$iterations" --warmup "$warmup" --ablation \
    --json "$out/perf.json" --markdown "$out/perf.md" || status=1
bench --variants eigen_vgg16 --batch 8 --iterations $((iterations / 2 + 1)) \
    --warmup $((warmup / 2)) --no-packing --json "$out/perf_b8.json" || status=1
if [ "${COMPILE:-1}" != 0 ]; then
    # compiling takes minutes; bounded so the figures above are never lost to it
    timeout 300 "$py" -m depth_estimation_ros.benchmark --devices "$devices" \
        --variants eigen_vgg16 --ablation-only --compile max-autotune --no-packing \
        --iterations $((iterations / 2 + 1)) --warmup $((warmup / 2)) \
        --json "$out/perf_compile.json" || status=1
fi
exit $status
