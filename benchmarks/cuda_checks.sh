#!/bin/bash
# Everything that needs a GPU, in one run: the CUDA tests, the search benchmarks and the training throughput.
#   bash benchmarks/cuda_checks.sh [OUTPUT_FOLDER]        (default: cuda_checks/; logs are also printed)
set -o pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
out=${1:-cuda_checks}; mkdir -p "$out"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_nam.py tests/test_models.py tests/test_benchmarks.py 2>&1 | tee "$out/pytest_cuda.txt"
timeout 90 python3 benchmarks/search_throughput.py --ks 1,4,8,16,64,256 --steps 20 --rounds 3 2>&1 | tee "$out/search_throughput.txt"
timeout 220 python3 benchmarks/search_variants.py --ks 1,8,64,256 --steps 20 2>&1 | tee "$out/search_variants.txt"
timeout 70 python3 benchmarks/training_speed.py --progan-config compact --degradation-config compact 2>&1 | tee "$out/training_compact.txt"
timeout 70 python3 benchmarks/training_speed.py --progan-config paper --degradation-config default 2>&1 | tee "$out/training_paper.txt"
