#!/bin/bash
# Issue 28's GPU run, for a session that is lent a device machine: distil the style student from fresh teacher
# pairs (drawn on the fly, every step, batch 256) for MINUTES minutes, then bring back the export, the metrics, the
# last sample sheet and the held-out PSNR. Sized for a 15-minute device budget with room for a rerun: the default
# 6 minutes of training, about 7 with the teacher's start, plus the machine's start.
#
# Here, once:   python train/pack_teacher.py .teacher && echo /.teacher/ >> .git/info/exclude
# Then:         device run, carry [".teacher"], timeout_s 480:
#               bash train/gpu_distill.sh [MINUTES] [INIT_FROM]
# INIT_FROM (optional): a student folder in the working tree to continue from (a run's export/, a snapshot, or for a
# trunk student a packed head such as train/default_checkpoint/trunk_warm_start).
# CONFIG (environment, optional): the train_distill.py config, default gpu; gpu-trunk trains the trunk student. Its
# whole export (29 MB, mostly the teacher's own trunk) is over the 16 MiB a device run brings back per file, so the
# script brings back its head alone (train/pack_trunk_head.py, 2.5 MB); here, --unpack makes the whole generator:
#   python train/pack_trunk_head.py --unpack gpu_distill_out ~/runs/trunk_gpu
# DISTILL_ARGS (environment, optional): more train_distill.py flags, e.g. for a smoke test on a CPU:
#   DISTILL_ARGS="--config tiny --pair-source on-the-fly --batch-size 2 --held-out 2 --teacher-batch 2" \
#     OUT=/tmp/smoke bash train/gpu_distill.sh 1
# Back here:    evaluate the export on the CPU (README, "The style student"), select and publish.
set -o pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 SRNAM_TEACHER_DIR="${SRNAM_TEACHER_DIR:-$PWD/.teacher}"
minutes=${1:-6}
out=${OUT:-gpu_distill_out}; mkdir -p "$out"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available()
                                 else 'no CUDA device')" || exit 1
init=(); [ -n "$2" ] && init=(--init-from "$2")
run=/tmp/distill_gpu; rm -rf "$run"  # a fresh run each time (a warm machine keeps /tmp)
timeout $(( (minutes + 2) * 60 )) python3 train/train_distill.py --out "$run" --config "${CONFIG:-gpu}" \
    --max-minutes "$minutes" "${init[@]}" $DISTILL_ARGS 2>&1 | tr '\r' '\n' | grep -v '%|' | tee "$out/train.log"
# The run is cut by --max-minutes, not finished: export the EMA student of its last checkpoint's step (the last
# snapshot; snapshot_every = checkpoint_every = 250 in the gpu config).
last=$(ls -d "$run"/snapshots/step-* 2>/dev/null | tail -1)
[ -n "$last" ] || { echo "no snapshot was written"; exit 1; }
if grep -q trunk_resolution "$last/generator/config.json"; then
    python3 train/pack_trunk_head.py "$last" "$out" || exit 1
else
    mkdir -p "$out/generator"
    cp "$last"/generator/config.json "$last"/generator/model.safetensors "$out/generator/"
fi
cp "$run/metrics.jsonl" "$out/"
sheet=$(ls "$run"/samples/*.png 2>/dev/null | tail -1); [ -n "$sheet" ] && cp "$sheet" "$out/samples.png"
echo "snapshot: $last"; tail -1 "$run/metrics.jsonl"
