"""Turning what users give us (paths, PIL images, numpy arrays, tensors) into model tensors, and back.

Model tensors are float [N, 3, H, W] in [-1, 1]. Conversions applied to PIL images and files, so
that any common photo works:

* EXIF orientation is applied (phone photos come out upright);
* RGBA / LA / palette images with transparency are composited onto white;
* grayscale is repeated to three channels; CMYK and YCbCr go through PIL's RGB conversion;
* 16-bit and 32-bit integer images ("I;16", "I") are scaled to 8 bits by their full range (PIL's own
  conversion would clip them to white);
* non-square images are centre-cropped to a square;
* numpy arrays are H×W (grey), H×W×1, H×W×3 (RGB) or H×W×4 (RGBA), either uint8 (0–255) or float in
  [0, 1] (what ``np.asarray(pil_image)`` and most image libraries give; OpenCV's arrays are BGR: reverse
  the last axis first).

Rejected with :class:`~srnam.errors.InvalidImageError`: paths that are not readable files, files that are
not images or are truncated, images smaller than 16×16 (the LR size; a 1×1 image carries no face), and
images of more than ``MAX_PIXELS`` (decompression bombs), checked from the header before any pixel is
decoded. Anything that is none of the accepted types raises a ``TypeError`` that lists them.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

MIN_SIDE = 16
MAX_PIXELS = 40_000_000  # 40 MP: larger than any phone photo, far below a decompression bomb

ImageInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor
ACCEPTED = ("a file path, a PIL image, a numpy array (H×W, H×W×3 or H×W×4; uint8, or float in [0, 1]) or a "
            "float tensor [3, H, W] in [0, 1]")
# PSNR of identical images would be infinite, which JSON cannot hold: psnr caps it here.
PSNR_CAP_DB = 100.0
MAX_NAME_SHOWN = 120  # characters of a path quoted in an error message


def check_input_type(source) -> None:
    """A ``TypeError`` naming the accepted types, for anything else (None, bytes, lists, ...)."""
    if not isinstance(source, (str, os.PathLike, Image.Image, np.ndarray, torch.Tensor)):
        raise TypeError(f"expected {ACCEPTED}; got {type(source).__name__}")


def open_image(source: str | os.PathLike | Image.Image, square: bool = True, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``source`` (a path or PIL image), check its size and return it as an RGB image, cut to its
    centre square unless ``square=False`` (photos in which a face will be searched). Images of more than
    ``max_pixels`` are refused from their header, before any pixel is decoded (a server may set a lower limit
    than ``MAX_PIXELS``: a few bytes of PNG can claim tens of megapixels)."""
    check_input_type(source)
    if isinstance(source, torch.Tensor):
        raise TypeError("expected a file path, a PIL image or a numpy array here; tensors are model-ready LR "
                        "inputs: pass them to the pipeline, or convert with tensor_to_pil")
    if isinstance(source, np.ndarray):
        image, name = array_to_pil(source), "array input"
    elif isinstance(source, Image.Image):
        image, name = source, "image"
    else:
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        name = shown_name(path)  # messages quote this; the file opened is always `path` itself
        try:
            is_file = Path(path).is_file()
        except (OSError, ValueError) as err:  # too long a name, a NUL byte: no file can have this path
            raise InvalidImageError.of(name, f"not a usable file path ({getattr(err, 'strerror', None) or err})",
                                       "no such file") from err
        if not is_file:
            raise InvalidImageError.of(name, "no such file", "no such file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path)
        except UnidentifiedImageError as err:
            raise InvalidImageError.of(name, "not an image file PIL can read", "not an image") from err
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
            raise InvalidImageError.of(  # PIL refuses before we can read the size: its message has the pixel count
                name, f"image too large, a possible decompression bomb ({err}); SR-NAM's limit is "
                f"{MAX_PIXELS / 1e6:.0f} MP", "too large") from err
        except PermissionError as err:
            raise InvalidImageError.of(name, "cannot be read (permission denied)", "no such file") from err
        except (OSError, SyntaxError) as err:
            raise InvalidImageError.of(name, f"truncated or corrupt image ({_without(err, path)})",
                                       "truncated or corrupt") from err
    _check_size(image.width, image.height, name, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        image = to_rgb(image)
    except (OSError, SyntaxError, ValueError) as err:
        raise InvalidImageError.of(name, f"truncated or corrupt image ({err})", "truncated or corrupt") from err
    return centre_square(image) if square else image


def shown_name(path: str) -> str:
    """``path`` as error messages quote it: ``repr()``'d if it holds a NUL, tab or newline (which would garble
    the message), and cut to ``MAX_NAME_SHOWN`` characters."""
    shown = path if path.isprintable() else repr(path)
    return shown if len(shown) <= MAX_NAME_SHOWN else shown[:MAX_NAME_SHOWN] + "…"


def _without(err: Exception, path: str) -> str:
    """``err``'s text without the path it may quote ("[Errno 2] No such file …: '/full/path'"): the message
    names the file already, by its shown name."""
    return str(err).replace(path, "…")


def array_to_pil(array: np.ndarray) -> Image.Image:
    """A numpy image (see the module docstring for the layouts and value ranges) → PIL image."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise InvalidImageError(f"array input must be H×W, H×W×3 or H×W×4 (channels last), got shape "
                                f"{list(array.shape)}", "bad array")
    _check_size(array.shape[1], array.shape[0], "array input")
    if array.dtype == np.uint8:
        pass
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise InvalidImageError("float array input must hold finite values in [0, 1]", "bad array")
        array = (array.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise InvalidImageError(f"array input must be uint8 (0–255) or float in [0, 1], got dtype {array.dtype}",
                                "bad array")
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[array.shape[2] if array.ndim == 3 else 2]
    return Image.fromarray(np.ascontiguousarray(array), mode)


def _check_size(width: int, height: int, name: str, max_pixels: int = MAX_PIXELS) -> None:
    if width * height > max_pixels:
        raise InvalidImageError.of(
            name, f"image too large ({width}×{height} = {width * height / 1e6:.0f} MP; "
            f"the limit is {max_pixels / 1e6:.3g} MP)", "too large")
    if min(width, height) < MIN_SIDE:
        raise InvalidImageError.of(
            name, f"image too small ({width}×{height}); SR-NAM needs at least {MIN_SIDE}×{MIN_SIDE} pixels",
            "too small")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (see the module docstring for the rules)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode == "F":
            lo, hi = values.min(), values.max()  # float images carry no fixed range
        else:
            lo, hi = 0.0, 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        values = np.clip((values - lo) / max(hi - lo, 1e-12) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(values, "L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def centre_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)) if image.width != image.height else image


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → [1, 3, H, W] in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0  # [H, W, 3]
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def stack_pil(images) -> torch.Tensor:
    """RGB PIL images of one size → [N, 3, H, W] in [-1, 1]."""
    return torch.cat([pil_to_tensor(image) for image in images])


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """Model images in [-1, 1] → float [0, 1] on the CPU (clipped, not rounded)."""
    return (images.detach().float().cpu().clamp(-1, 1) + 1) / 2


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """[3, H, W] in [-1, 1] → RGB PIL image (values outside the range are clipped)."""
    return Image.fromarray(to_uint8(image.cpu()).permute(1, 2, 0).numpy(), "RGB")


def jpeg_round_trip(image: Image.Image, quality: int, subsampling: int = -1) -> Image.Image:
    """``image`` saved as a JPEG at ``quality`` and decoded again, as a camera or an upload would leave it (chroma
    ``subsampling`` as PIL takes it: 0 for 4:4:4, 2 for 4:2:0, -1 PIL's default)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """Stored 8-bit pixels (a dataset's, the teacher-pair cache's) → float in [-1, 1], the models' range."""
    return images.float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Model images in [-1, 1] → 8-bit pixels, rounded (values outside the range are clipped)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def lr_tensor(source: ImageInput, size: int = 16) -> torch.Tensor:
    """Make the LR model input [1, 3, size, size] in [-1, 1] from any supported input.

    Larger inputs are reduced by area averaging (PIL's box filter, or ``adaptive_avg_pool2d`` for
    tensors). Tensors must be float [3, H, W] or [1, 3, H, W] with values in [0, 1], like
    ``torchvision.transforms.functional.to_tensor`` gives.
    """
    check_input_type(source)
    if isinstance(source, torch.Tensor):
        return _lr_from_tensor(source, size)
    image = open_image(source)
    if image.width != size:
        image = image.resize((size, size), Image.Resampling.BOX)
    return pil_to_tensor(image)


def _lr_from_tensor(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise InvalidImageError(
            f"tensor input must be [3, H, W] or [1, 3, H, W] (one RGB image), got {list(image.shape)}", "bad tensor")
    if not image.is_floating_point():
        raise InvalidImageError(f"tensor input must be float in [0, 1], got dtype {image.dtype}", "bad tensor")
    _check_size(image.shape[3], image.shape[2], "tensor input")
    if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise InvalidImageError("tensor input must hold finite values in [0, 1]", "bad tensor")
    image = image.float()
    side = min(image.shape[-2:])
    top, left = (image.shape[2] - side) // 2, (image.shape[3] - side) // 2
    image = image[:, :, top:top + side, left:left + side]
    if side != size:
        image = F.adaptive_avg_pool2d(image, size)
    return image * 2 - 1


def psnr(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of ``images`` against ``reference`` ([..., 3, H, W] in [0, 1]), one value per image."""
    mse = (images.double() - reference.double()).pow(2).mean(dim=(-3, -2, -1))
    return (-10 * torch.log10(mse.clamp_min(10 ** (-PSNR_CAP_DB / 10)))).float()


# A grey photo says nothing of its colours: the search fits it, and the figures judge the fit, on luminance only
# (ITU-R BT.601 weights). Grey: the three channels within GREY_LEVELS 8-bit levels of each other everywhere
# (a grey JPEG saved as RGB keeps a level or two of chroma noise).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
GREY_LEVELS = 2


def luma(images: torch.Tensor) -> torch.Tensor:
    """[..., 3, H, W] → their luminance [..., 1, H, W] (on the images' own scale)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images * weights).sum(dim=-3, keepdim=True)


def is_grey(images: torch.Tensor, value_range: float = 1.0) -> torch.Tensor:
    """[..., 3, H, W] → [...] bool: True where an image's channels agree to ``GREY_LEVELS`` 8-bit levels
    (``value_range``: the width of the images' scale, 1 for [0, 1], 2 for [-1, 1])."""
    spread = (images.amax(dim=-3) - images.amin(dim=-3)).amax(dim=(-2, -1))
    return spread <= GREY_LEVELS / 255 * value_range + 1e-6


def lr_fit_view(images: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
    """``images`` [..., 3, h, w] as an LR fit judges them: where ``grey`` ([...] bool, broadcast: the input's
    :func:`is_grey`) their luminance in all three channels, so that a mean over an image is the luminance's;
    elsewhere as they are. The search's L1 and the reported LR PSNR both read the fit through it."""
    if not grey.any():
        return images
    return torch.where(grey[..., None, None, None], luma(images).expand_as(images), images)


def lr_fit_psnr(projections: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """PSNR of LR projections against their inputs ([..., 3, h, w] in [0, 1], broadcast): on luminance where an
    input is grey (what the search fits there), else on the three channels."""
    grey = is_grey(inputs)
    return psnr(lr_fit_view(projections, grey), lr_fit_view(inputs, grey))


def lr_psnr(output) -> list[float]:
    """PSNR in dB of each candidate's LR projection against the LR input of an ``SRNAMOutput`` (either output
    type; as 8-bit images; identical images give ``PSNR_CAP_DB``; on luminance for a grey input). The app and
    ``srnam upscale`` report it."""
    if isinstance(output.lr_input, torch.Tensor):  # "pt": [K, 3, 16, 16] and [3, 16, 16] in [0, 1]
        return lr_fit_psnr(round_to_8bit(output.lr_projections), round_to_8bit(output.lr_input)).tolist()
    projections = stack_pil(output.lr_projections)  # [K, 3, 16, 16] in [-1, 1]
    return lr_fit_psnr(to_unit_range(projections), to_unit_range(pil_to_tensor(output.lr_input))).tolist()


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Model images in [-1, 1] → [0, 1], rounded to 8 bits: the metrics then judge the images a user gets
    (``srnam.images.tensor_to_pil`` makes the same 8-bit values)."""
    return round_to_8bit(unit_range(images))


def round_to_8bit(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] (e.g. a pipeline's "pt" output) rounded to the 256 levels of an 8-bit image."""
    return (images * 255).round() / 255
