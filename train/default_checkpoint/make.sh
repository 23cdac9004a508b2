#!/usr/bin/env bash
# How checkpoints/default is made (since 2026-12-07): the style student distilled from the corpus's own generator,
# MobileStyleGAN, beside the camera (degradation model) that shipped before it. On a 2-core CPU: about 3.5 h of
# training for the student, plus the pairs the teacher draws. Each training command can be stopped and re-run
# with --resume (or in slices: --max-minutes, then --resume). Needs the teacher extra (README, "To train or test
# the style student": pip install -e ".[teacher]" and random-face).
#
# CAMERA: the pipeline folder whose degradation model is kept, and whose generator the card compares against
#   (default: checkpoints/default of commit d9b4e15, the last with the ProGAN). To rebuild that pipeline from
#   nothing, run progan/make.sh and give its checkpoints/default here.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${CORPUS:-../shared/data/faces128}
mkdir -p runs
if [ -z "${CAMERA:-}" ]; then
    CAMERA=runs/previous_default
    rm -rf "$CAMERA" && mkdir -p runs/previous && git archive d9b4e15 checkpoints/default | tar -x -C runs/previous
    mv runs/previous/checkpoints/default "$CAMERA"
fi

# 1. Fresh teacher pairs: z ~ N(0, I), the teacher's 1024-px face area-reduced to the corpus framing at 64×64, in
#    shards of 256 (OpenVINO, one core: about 2 pairs/s). The warm start's cache had 39 shards (seed 0).
python train/make_teacher_pairs.py data/teacher_pairs --shards 39 --threads 1

# 2. The warm start: the cpu recipe (L1 + pyramid L1 + 2 × high-pass L1, batch 8, Adam 2e-3, EMA 0.998) for 47,000
#    steps (376,000 images, 134 min on one core; the pair writer filled the cache beside it in the first run).
#    Its snapshot is committed as train/default_checkpoint/student_warm_start/ (distill_trials.md, runs 2).
OMP_NUM_THREADS=1 python train/train_distill.py data/teacher_pairs --out runs/distill_cpu --config cpu --max-steps 47000

# 3. Frequency separation (distill_trials.md, item 12): the adversarial fine-tune whose critic sees only the
#    faces' high-pass, from the warm start, on fresh pairs the warm start never saw (seed 1; 23 shards were in the
#    pool when the run started). 1,000 steps of batch 16
#    (590 s on 2 threads, partly beside other work). Snapshots every 500.
python train/make_teacher_pairs.py data/pairs_seed1 --seed 1 --shards 23 --threads 1
OMP_NUM_THREADS=2 python train/train_distill.py data/pairs_seed1 --out runs/sharpen --config cpu-sharpen \
    --init-from train/default_checkpoint/student_warm_start --snapshot-every 500 --max-steps 1500

# 4. Pick the snapshot by results on held-out dev faces, against the generator it replaces (--compare-with), by the
#    criterion of progan/make.sh step 5 (LR consistency, face-ness, then candidate face FD and sharpness). Each
#    generator searches at its own Adam step (0.1 for the student, 0.4 for the ProGAN). step-0001000 won.
OMP_NUM_THREADS=1 python train/select_checkpoint.py runs/sharpen "$CAMERA" "$CORPUS/dev" --skip 400 --limit 24 \
    -k 8 -n 150 --faceness 300 --reference "$CORPUS/train" --reference-limit 1000 --compare-with "$CAMERA"
GENERATOR_SNAPSHOT=$(python -c "import json; print(json.load(open('runs/sharpen/selection.json'))['selected'])")

# 5. Evaluate the pipeline on dev faces 0-199 (8 × 300; about 2.5 hours each on one core, the two side by side on
#    two; stopped, they go on from their last finished batch of 8 faces with --resume), with LR inputs made by the
#    camera and by 4× area reduction, then assemble checkpoints/default with its model card, the ProGAN pipeline
#    against the student. --limit 48 gives the quicker check of earlier cards.
python train/publish.py runs/sharpen "$CAMERA" --snapshot "$GENERATOR_SNAPSHOT" --out runs/candidate \
    --training-data-file train/default_checkpoint/training_data.md
for SOURCE in degradation area; do
    OMP_NUM_THREADS=1 srnam evaluate "$CORPUS/dev" --model runs/candidate --limit 200 -k 8 -n 300 --batch-faces 8 \
        --lr-source $SOURCE --reference "$CORPUS/train" --out runs/eval_dev200_$SOURCE --resume
done
rm -rf checkpoints/default
python train/publish.py runs/sharpen "$CAMERA" --snapshot "$GENERATOR_SNAPSHOT" --out checkpoints/default \
    --training-data-file train/default_checkpoint/training_data.md --notes-file train/default_checkpoint/notes.md \
    --examples "$CORPUS/dev" --compare-with "$CAMERA" --evaluation runs/eval_dev200_degradation \
    --evaluation runs/eval_dev200_area \
    --section-file train/default_checkpoint/targets.md --section-file train/default_checkpoint/limitations.md
mkdir -p checkpoints/default/training_logs
cp runs/sharpen/metrics.jsonl checkpoints/default/training_logs/sharpen_metrics.jsonl
cp runs/sharpen/config.json checkpoints/default/training_logs/sharpen_config.json
cp runs/sharpen/selection.json checkpoints/default/training_logs/selection.json
cp train/default_checkpoint/student_warm_start/metrics.jsonl checkpoints/default/training_logs/warm_start_metrics.jsonl
cp "$CAMERA"/training_logs/degradation_* checkpoints/default/training_logs/

# 6. The card's further figures (its "Against the targets" section), measured on the published folder; not needed
#    to build it, so left to run by hand (about 25 min each on one core):
#    srnam evaluate --real lfw --lr-source area --latent-space w -k 8 -n 300 --limit 25 --batch-faces 5 [--align]
#    python benchmarks/whole_photo_realism.py "$CORPUS/dev" --reference "$CORPUS/train"
