#!/usr/bin/env bash
# How checkpoints/default was made, start to end, on a 2-core CPU (about 1.5 h of training). Each training
# command can be stopped and re-run with --resume; the logs stay in runs/ and are copied next to the models.
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${CORPUS:-../shared/data/faces128}

# 1. Data: 6,300 HR face crops with their latents, 2,700 disjoint synthetic LR faces (12 s).
python train/prepare_data.py "$CORPUS/train" data --crop corpus --latents "$CORPUS/train_latents.npy" --lr-fraction 0.3

# 2. The degradation model first (stopped after 400 of the config's 1,000 steps, 14 min: its L1 had flattened).
python train/train_degradation.py data/hr data/lr --out runs/degradation --config compact --num-steps 400

# 3. ProGAN 4×4 → 64×64 with EMA, trained by the paired loss with learned latents (no critic); EMA snapshots
#    every 500 steps once 64×64 is faded in. It ran in slices: 12 epochs at 64×64 first (fade-in over 6),
#    then resumed with the config's 20 (a longer last stage only lengthens the faded-in part).
python train/train_progan.py data/hr --out runs/progan --config compact --stage-epochs 1,2,2,4,12
python train/train_progan.py data/hr --out runs/progan --config compact --resume

# 4. Adversarial fine-tuning of that generator (the last stage only, a fresh critic, anchored to its start at 16×16;
#    the compact-finetune config). Run it in slices of an hour and --resume as often as there is time. Should the run
#    folder be lost, warm-start a new one from the best committed export instead of from scratch:
#    --init-from checkpoints/default (then the anchor holds that model's 16×16 behaviour).
python train/train_progan.py data/hr --out runs/progan_gan --config compact-finetune --init-from runs/progan/export \
    --max-minutes 60
python train/train_progan.py data/hr --out runs/progan_gan --config compact-finetune --init-from runs/progan/export \
    --max-minutes 60 --resume

# 5. Pick the snapshot by its results on held-out dev faces (not the ones evaluated below): LR consistency first, then
#    sharpness in the band of real faces, then realism against training faces (never by PSNR: it rewards blur).
python train/select_checkpoint.py runs/progan_gan runs/degradation "$CORPUS/dev" --skip 400 --limit 24 -n 150 \
    --reference "$CORPUS/train" --reference-limit 1000
SNAPSHOT=$(python -c "import json; print(json.load(open('runs/progan_gan/selection.json'))['selected'])")

# 6. Evaluate it on 200 dev faces, LR inputs (a) from the degradation model and (b) by plain 4× area downsampling, then
#    assemble checkpoints/default with its model card, old against new.
python train/publish.py runs/progan_gan runs/degradation --snapshot "$SNAPSHOT" --out runs/candidate \
    --training-data-file train/default_checkpoint/training_data.md
for SOURCE in degradation bicubic; do
    srnam evaluate "$CORPUS/dev" --model runs/candidate --limit 200 -k 8 -n 300 --batch-faces 4 --lr-source $SOURCE \
        --reference "$CORPUS/train" --out runs/eval_dev200_$SOURCE
done
cp -r checkpoints/default runs/previous_default
python train/publish.py runs/progan_gan runs/degradation --snapshot "$SNAPSHOT" --out checkpoints/default \
    --training-data-file train/default_checkpoint/training_data.md --notes-file train/default_checkpoint/notes.md \
    --examples "$CORPUS/dev" --compare-with runs/previous_default --evaluation runs/eval_dev200_degradation \
    --evaluation runs/eval_dev200_bicubic --section-file train/default_checkpoint/limitations.md
mkdir -p checkpoints/default/training_logs
cp runs/progan/metrics.jsonl checkpoints/default/training_logs/progan_metrics.jsonl
cp runs/progan_gan/metrics.jsonl checkpoints/default/training_logs/progan_finetune_metrics.jsonl
cp runs/degradation/metrics.jsonl checkpoints/default/training_logs/degradation_metrics.jsonl
cp runs/progan_gan/selection.json checkpoints/default/training_logs/selection.json
cp runs/progan/config.json checkpoints/default/training_logs/progan_config.json
cp runs/progan_gan/config.json checkpoints/default/training_logs/progan_finetune_config.json
cp runs/degradation/config.json checkpoints/default/training_logs/degradation_config.json

# The ablation behind the choice of generator loss (16×16 runs; the card quotes its table).
python benchmarks/distillation_ablation.py data/hr "$CORPUS/dev" --out runs/ablation
cp runs/ablation/ablation.json checkpoints/default/training_logs/ablation.json
