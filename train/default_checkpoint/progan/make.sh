#!/usr/bin/env bash
# How checkpoints/default was made until 2026-12-07, start to end, on a 2-core CPU (about 4.5 h of training): the
# camera (steps 1-2, still the shipped one: ../make.sh keeps it) and the ProGAN generator (steps 3-6), which the
# distilled style student replaced. Each training command can be stopped and re-run with --resume; the logs stay
# in runs/ and are copied next to the models.
set -euo pipefail
cd "$(dirname "$0")/../../.."
CORPUS=${CORPUS:-../shared/data/faces128}

# 1. Data: 6,300 HR face crops with their latents, 2,700 disjoint synthetic LR faces (12 s).
python train/prepare_data.py "$CORPUS/train" data --crop corpus --latents "$CORPUS/train_latents.npy" --lr-fraction 0.3

# 2. The degradation model (the camera) first, in four runs, each starting where the last one ended (about 2 h in all;
#    run them in slices with --max-minutes and --resume). The recipe of every run: the compact config, a GAN weight
#    of 1 and the mode-seeking diversity term (so the noise is used), no VGG term (no ImageNet weights offline).
DEG="--config compact --beta 1.0 --diversity-weight 1 --sample-every 100 --log-every 20 --checkpoint-every 100"
#    a. From scratch, with the paper's pixel term (the L1 of the bicubic-upscaled photo against the face): 1,000 steps.
python train/train_degradation.py data/hr data/lr --out runs/degradation_div $DEG --num-steps 1000
#    b. The same run continued with the low-pass pixel term (both sides area-pooled to 8×8), which leaves blur and
#       noise to the critic: to step 1,467 (the best logged camera FD of that run).
cp -r runs/degradation_div runs/degradation_lowpass
python train/train_degradation.py data/hr data/lr --out runs/degradation_lowpass $DEG --pixel-size 8 --num-steps 1467 \
    --resume
#    c. The camera head (lens blur and sensor noise set by the noise vector), warm-started from b with a fresh
#       critic: 800 steps.
python train/train_degradation.py data/hr data/lr --out runs/degradation_head $DEG --pixel-size 8 --camera-head true \
    --init-from runs/degradation_lowpass --num-steps 800
#    d. Continued from c with an average of the weights (their camera FD oscillated without it) and a snapshot every
#       100 steps; the shipped snapshot is the one with the lowest logged camera FD (DEGRADATION_SNAPSHOT).
python train/train_degradation.py data/hr data/lr --out runs/degradation_camera $DEG --pixel-size 8 --camera-head true \
    --init-from runs/degradation_head --ema-beta 0.995 --snapshot-every 100 --num-steps 1000
DEGRADATION_SNAPSHOT=$(python -c "
import json
logged = [json.loads(line) for line in open('runs/degradation_camera/metrics.jsonl')]
print('step-%07d' % min((r for r in logged if 'camera_fd' in r), key=lambda r: r['camera_fd'])['step'])")

# 3. The generator, stage 1: ProGAN 4×4 → 64×64 with EMA, trained by the paired loss with learned latents (no
#    critic); EMA snapshots every 500 steps once 64×64 is faded in. It ran in slices: 12 epochs at 64×64 first
#    (fade-in over 6), then resumed with the config's 20 (a longer last stage only lengthens the faded-in part).
#    Its snapshot step-0006500, the last one, was picked then by mean-of-8 HR PSNR on dev faces 400-423
#    (training_logs/selection.json: a criterion since replaced, see step 5); it shipped until issue 12.
python train/train_progan.py data/hr --out runs/progan --config compact --stage-epochs 1,2,2,4,12
python train/train_progan.py data/hr --out runs/progan --config compact --resume
python train/publish.py runs/progan runs/degradation_camera --snapshot step-0006500 \
    --degradation-snapshot "$DEGRADATION_SNAPSHOT" --out runs/stage1 \
    --training-data-file train/default_checkpoint/progan/training_data.md

# 4. The generator, stage 2: adversarial fine-tuning of stage 1 at 64×64 (a fresh critic; the recipe and its trials
#    are in finetune_trials.md): 448,000 images, 104 min at about 70 img/s on an idle 2-core CPU. --max-steps counts
#    the steps of one session: to run it in slices (--max-minutes, then --resume), give the last slice the steps
#    left to 14,000. Its snapshot of step 14,000 is committed at 243a2ee as
#    train/default_checkpoint/warm_start/; later commits of that folder continue the run (see its README).
python train/train_progan.py data/hr --out runs/finetune_l1 --config compact-finetune --init-from runs/stage1 \
    --anchor-weight 0 --distill-weight 1 --latent-lr 0.03 --snapshot-every 1000 --sample-every 500 \
    --checkpoint-every 200 --max-steps 14000

# 5. Pick its snapshot by results on held-out dev faces (not the ones evaluated in step 6), never by PSNR (it rewards
#    blur): LR consistency at least the true faces' own, face-ness near the best, then candidate face FD and
#    sharpness in the band of real faces (train/select_checkpoint.py --help has the criterion). Stage 1 is measured
#    beside them as "current"; step-0014000 won.
python train/select_checkpoint.py runs/finetune_l1 runs/degradation_camera/snapshots/$DEGRADATION_SNAPSHOT \
    "$CORPUS/dev" --skip 400 --limit 24 -n 150 --reference "$CORPUS/train" --reference-limit 1000 \
    --compare-with runs/stage1
GENERATOR_SNAPSHOT=$(python -c "import json; print(json.load(open('runs/finetune_l1/selection.json'))['selected'])")

# 6. Evaluate the pipeline on 200 dev faces, the LR inputs made from the ground truth (a) by its degradation model
#    and (b) by plain 4× area downsampling (35 min each), then assemble checkpoints/default with its model card,
#    stage 1 against stage 2.
python train/publish.py runs/finetune_l1 runs/degradation_camera --snapshot $GENERATOR_SNAPSHOT \
    --degradation-snapshot "$DEGRADATION_SNAPSHOT" --out runs/candidate \
    --training-data-file train/default_checkpoint/progan/training_data.md
for SOURCE in degradation bicubic; do
    srnam evaluate "$CORPUS/dev" --model runs/candidate --limit 200 -k 8 -n 300 --batch-faces 4 --lr-source $SOURCE \
        --reference "$CORPUS/train" --out runs/eval_dev200_$SOURCE
done
rm -rf checkpoints/default
python train/publish.py runs/finetune_l1 runs/degradation_camera --snapshot $GENERATOR_SNAPSHOT \
    --degradation-snapshot "$DEGRADATION_SNAPSHOT" --out checkpoints/default \
    --training-data-file train/default_checkpoint/progan/training_data.md --notes-file train/default_checkpoint/progan/notes.md \
    --examples "$CORPUS/dev" --compare-with runs/stage1 \
    --evaluation runs/eval_dev200_degradation --evaluation runs/eval_dev200_bicubic \
    --section-file train/default_checkpoint/progan/targets.md --section-file train/default_checkpoint/progan/limitations.md
mkdir -p checkpoints/default/training_logs
cp runs/progan/metrics.jsonl checkpoints/default/training_logs/progan_metrics.jsonl
cp runs/progan/config.json checkpoints/default/training_logs/progan_config.json
cp runs/progan/selection.json checkpoints/default/training_logs/selection.json
cp runs/finetune_l1/metrics.jsonl checkpoints/default/training_logs/finetune_metrics.jsonl
cp runs/finetune_l1/config.json checkpoints/default/training_logs/finetune_config.json
cp runs/finetune_l1/selection.json checkpoints/default/training_logs/finetune_selection.json
# the first, adversarial generator run from scratch that the card quotes (not rerun here; in git history)
git show 269ee7b:checkpoints/default/training_logs/progan_adversarial_metrics.jsonl \
    > checkpoints/default/training_logs/progan_adversarial_metrics.jsonl
for RUN in div lowpass head camera; do
    cp runs/degradation_$RUN/metrics.jsonl checkpoints/default/training_logs/degradation_${RUN}_metrics.jsonl
    cp runs/degradation_$RUN/config.json checkpoints/default/training_logs/degradation_${RUN}_config.json
done

# The ablation behind stage 1's loss (16×16 runs; the card quotes its table).
python benchmarks/distillation_ablation.py data/hr "$CORPUS/dev" --out runs/ablation
cp runs/ablation/ablation.json checkpoints/default/training_logs/ablation.json
