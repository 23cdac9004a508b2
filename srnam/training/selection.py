"""Which snapshot of a training run to ship: the selection criterion of ``train/select_checkpoint.py``, as a
library function (tested on hand-made tables). It never selects on PSNR against the ground truth, which rewards
blur: the candidates must fit their input (LR PSNR), stay faces (face-ness), then be the most realistic (face FD)
with real faces' sharpness."""
from __future__ import annotations

import math

LR_PSNR_MARGIN_DB = 1.0
FACENESS_MARGIN = 0.10
SHARPNESS_BAND = (0.7, 1.3)
SHARPNESS_WEIGHT = 0.05  # face FD per unit of log-ratio outside the band
CRITERION = (f"mean LR PSNR within {LR_PSNR_MARGIN_DB} dB of the best or at least the ground truth's; face-ness "
             f"within {FACENESS_MARGIN:.0%} of the best; then the lowest candidate face FD + {SHARPNESS_WEIGHT} × "
             f"log-distance of the sharpness from "
             f"{SHARPNESS_BAND} (without a reference: sharpness nearest the band, then nearest 1)")


def off_band(sharpness: float) -> float:
    """How far a sharpness lies outside the band of real faces, in log ratio (0 inside)."""
    low, high = SHARPNESS_BAND
    return max(0.0, math.log(low / sharpness), math.log(sharpness / high))


def choose(table: dict) -> str:
    """The snapshot to ship from ``table`` (name → figures), by the criterion above."""
    enough = max(row["lr_psnr_mean"] for row in table.values()) - LR_PSNR_MARGIN_DB
    truth = [row["lr_psnr_ground_truth"] for row in table.values() if row.get("lr_psnr_ground_truth") is not None]
    if truth:  # the same faces and inputs for every row: the truth's fit is one figure
        enough = min(enough, truth[0])
    rows = {name: row for name, row in table.items() if row["lr_psnr_mean"] >= enough}
    faceness = [row["faceness"] for row in rows.values() if row.get("faceness") is not None]
    if faceness:
        rows = {name: row for name, row in rows.items()
                if row.get("faceness") is None or row["faceness"] >= max(faceness) - FACENESS_MARGIN}
    if all(row.get("face_fd_mean") is not None for row in rows.values()):
        return min(rows, key=lambda n: rows[n]["face_fd_mean"] + SHARPNESS_WEIGHT * off_band(rows[n]["sharpness_mean"]))
    return min(rows, key=lambda n: (off_band(rows[n]["sharpness_mean"]), abs(math.log(rows[n]["sharpness_mean"]))))
