"""Does the face tab find the face of a real photo, upright and tilted, and turn it back upright?

    python benchmarks/real_face_detection.py                      # the real photos that installed packages ship
    python benchmarks/real_face_detection.py --angles 0,20,-20 --photos my_photo.jpg

The real photos (no generator made them): NASA's portrait of the astronaut Eileen Collins (scikit-image, public
domain; also demo/examples/photos/astronaut.jpg), the US Navy's portrait of Grace Hopper (matplotlib's sample
data, public domain) and scikit-image's "cameraman" (a small, turned face). Each is rotated about its centre by
each angle (mirrored at its edges); per photo and angle the table says whether OpenCV's Haar cascade (the face
tab's detector before issue 30) finds a face, whether the face tab's path does (``srnam.faces.alignment``: dlib's HOG
detector at threshold 0, then the 5 landmarks), and the aligned square's tilt against the upright photo's
(the rotation it should have found: about the angle). The last line is the time per photo of the face tab's path.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from srnam.faces.alignment import largest_face_framing
from srnam.faces.detect import detect_face
from srnam.faces.pose import tilted


def real_photos() -> dict[str, Image.Image]:
    """The real photos that the installed packages ship, by name (those whose package is missing are left out)."""
    photos = {}
    try:
        from skimage import data

        photos["astronaut"] = Image.fromarray(data.astronaut())
        photos["cameraman"] = Image.fromarray(data.camera()).convert("RGB")
    except ImportError:
        pass
    try:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
            photos["grace_hopper"] = Image.open(file).convert("RGB")
    except (ImportError, FileNotFoundError):
        pass
    return photos


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--angles", default="0,15,-15,30,-30,45,-45")
    parser.add_argument("--photos", type=Path, nargs="*", help="other photos (default: the shipped real photos)")
    args = parser.parse_args(argv)

    photos = {p.stem: Image.open(p).convert("RGB") for p in args.photos} if args.photos else real_photos()
    angles = [float(a) for a in args.angles.split(",")]
    print(f"{'photo':>14} {'angle':>6} {'Haar':>5} {'face tab':>9} {'its tilt':>9}")
    seconds, found, total = [], 0, 0
    for name, photo in photos.items():
        whole = (0, 0, photo.width, photo.height)
        upright = largest_face_framing(photo)
        for angle in angles:
            turned = tilted(photo, whole, angle) if angle else photo
            haar = detect_face(turned) is not None
            start = time.perf_counter()
            framing = largest_face_framing(turned)
            seconds.append(time.perf_counter() - start)
            total += 1
            found += framing is not None
            tilt = "n/a" if framing is None or upright is None else f"{framing.angle - upright.angle:+.1f}°"
            print(f"{name:>14} {angle:6.0f} {'yes' if haar else 'no':>5} {'yes' if framing else 'no':>9} {tilt:>9}")
    print(f"face tab found {found} of {total}; its detection and alignment: median {np.median(seconds):.2f} s a photo")


if __name__ == "__main__":
    main()
