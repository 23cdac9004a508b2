"""Write the teacher's IR files with the synthesis's constants in float16 (25 MB instead of 40): what travels to
a GPU machine, whose copy of the working tree is limited to 64 MiB.

    python train/pack_teacher.py .teacher        # then, there: SRNAM_TEACHER_DIR=.teacher (train/gpu_distill.sh)

The synthesis graph is unchanged but for each float32 constant's element type, offset and size; srnam's IR reader
(and OpenVINO) read it back as they read the original. The mapping stays float32: in float16 its error, amplified
by the synthesis, reached 2.6 8-bit levels in a face (0.8 with it in float32; 0.05 on average; printed below).
"""
import argparse
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from srnam.errors import ModelLoadError
from srnam.models.teacher import MobileStyleGANTeacher, teacher_files


def pack(source: Path, name: str, out: Path) -> None:
    tree = ET.parse(source / f"{name}.xml")
    blob = np.fromfile(source / f"{name}.bin", dtype=np.uint8)
    chunks, offset = [], 0
    for layer in tree.getroot().find("layers"):
        data = layer.find("data")
        if layer.get("type") != "Const" or data is None:
            continue
        start, size = int(data.get("offset")), int(data.get("size"))
        raw = blob[start:start + size]
        if data.get("element_type") == "f32":
            raw = raw.view(np.float32).astype(np.float16).view(np.uint8)
            data.set("element_type", "f16")
            for port in layer.find("output"):
                port.set("precision", "FP16")
        pad = (-offset) % 8  # keep every constant aligned
        chunks.append(np.zeros(pad, np.uint8))
        offset += pad
        data.set("offset", str(offset))
        data.set("size", str(raw.size))
        chunks.append(raw)
        offset += raw.size
    tree.write(out / f"{name}.xml")
    np.concatenate(chunks).tofile(out / f"{name}.bin")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the folder to write (created)")
    args = parser.parse_args(argv)
    try:
        source = teacher_files()
        args.out.mkdir(parents=True, exist_ok=True)
        for suffix in (".xml", ".bin"):
            shutil.copyfile(source / f"MappingNetwork{suffix}", args.out / f"MappingNetwork{suffix}")
        pack(source, "SynthesisNetwork", args.out)
        z = torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            error = (MobileStyleGANTeacher(args.out)(z) - MobileStyleGANTeacher(source)(z)).abs()
    except ModelLoadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 2**20
    print(f"{args.out}: {size:.1f} MiB; the 64x64 faces move by {error.mean() * 127.5:.2f} 8-bit levels on average, "
          f"{error.max() * 127.5:.2f} at most")
    return 0


if __name__ == "__main__":
    sys.exit(main())
