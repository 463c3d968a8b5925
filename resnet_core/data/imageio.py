"""Turning an image file into the pixels a model sees — one definition used by training, prediction and export.

The preprocessing is deliberately simple and written down as data (`preprocess_spec`), so an exported
model can be fed the same way outside this tool: RGB, shorter side resized to S, centre crop S×S,
float in [0, 1]; the ImageNet mean/std normalisation lives inside the model.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    import torch

# Phones save photos as HEIC; this teaches Pillow to open them like any other format.
pillow_heif.register_heif_opener()

# Extensions we try to read as images. Anything else in a class folder is skipped as "not an image".
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".heic", ".heif"}
)
# Decoding more pixels than this could exhaust memory (a "decompression bomb"): 8,000 × 8,000 at most.
MAX_IMAGE_PIXELS = 64_000_000
# One sentence for a damaged file, wherever it is read (scan, training, prediction).
DAMAGED = "unreadable or truncated image: the file is cut short or damaged; open and save it again"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageLoadError(ValueError):
    """The file cannot be used as an image; the message says why in plain words."""


def too_large_message(width: int | None = None, height: int | None = None, pixels: int | None = None) -> str:
    """The one message for an image over MAX_IMAGE_PIXELS, with its size when known."""
    limit = f"{MAX_IMAGE_PIXELS // 1_000_000} million"
    if width and height:
        return f"too large to decode safely: {width:,} × {height:,} pixels, more than {limit}; downscale it"
    if pixels:
        return f"too large to decode safely: {pixels:,} pixels, more than {limit}; downscale it"
    return f"too large to decode safely: more than {limit} pixels; downscale it"


def pixels_in(bomb_error: Exception) -> int | None:
    """Pillow refuses the largest images before saying their size; its message holds the pixel count."""
    match = re.search(r"\((\d+) pixels\)", str(bomb_error))
    return int(match.group(1)) if match else None


# Transparent pixels are composited onto this colour (what an image viewer shows).
ALPHA_BACKGROUND = (255, 255, 255)


def preprocess_spec(image_size: int) -> dict:
    """What a caller must do to an image before handing it to an exported model, every step in order."""
    return {
        "steps": ["orientation", "color", "resize_shorter_side_to", "center_crop", "input"],
        "orientation": "EXIF orientation applied first (the image turned upright); animations: first frame",
        "color": "RGB",
        "color_conversion": ("palette, greyscale and CMYK converted to RGB; 16-bit greys scaled into 0-255; "
                             "transparency composited onto alpha_background"),
        "alpha_background": list(ALPHA_BACKGROUND),
        "resize_shorter_side_to": image_size,
        "center_crop": [image_size, image_size],
        "interpolation": "bilinear, antialiased",
        "jpeg_decoding": ("JPEGs at least twice the input size are decoded at 1/2, 1/4 or 1/8 scale "
                          "first (Pillow's Image.draft), never below the input size"),
        "input": f"float32 tensor N×3×{image_size}×{image_size}, values in [0, 1]",
        "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                          "applied": "inside the model"},
    }


def open_rgb(path: str | Path | BinaryIO, min_size: int | None = None) -> Image.Image:
    """Open any image a real folder might hold and return it as 8-bit RGB, upright.

    Handles EXIF rotation, 16-bit greys, CMYK, palettes and alpha (composited on white, which is
    what a viewer shows), and animations (first frame). Raises ImageLoadError with a reason.
    `path` may also be an open binary file (e.g. io.BytesIO of an upload).

    min_size: the image will be shrunk to this shorter side anyway, so a JPEG at least twice as
    large is decoded at 1/2, 1/4 or 1/8 scale (in the DCT, never below min_size on either side):
    a 12-megapixel photo then decodes in a fraction of the time.
    """
    path = path if hasattr(path, "read") else Path(path)
    try:
        with warnings.catch_warnings():
            # Our own limit (below) is lower than Pillow's warning level, and says the size.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ImageLoadError(too_large_message(w, h))
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)
                if min_size and im.format == "JPEG":
                    im.draft(None, (int(min_size), int(min_size)))
                im.load()
                im = ImageOps.exif_transpose(im) or im
                return to_rgb(im)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageLoadError(too_large_message(pixels=pixels_in(e))) from e
    except FileNotFoundError as e:
        raise ImageLoadError("file not found") from e
    except PermissionError as e:
        raise ImageLoadError("cannot read the file (permission denied)") from e
    except UnidentifiedImageError as e:
        # Pillow's own message names the file object (e.g. a BytesIO repr), which means nothing to a person.
        raise ImageLoadError("unreadable or truncated image, or not a picture format we can open "
                             "(use JPEG, PNG, WebP, BMP, TIFF, GIF or HEIC)") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Pillow's own words ("Truncated File Read", "broken data stream") mean little to a person.
        raise ImageLoadError(DAMAGED) from e


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB without the surprises of a bare `convert('RGB')`."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = arr.max()
        # 16-bit (or 32-bit integer) greys: scale the used range into 0..255 instead of clipping.
        scale = 255.0 / (65535.0 if hi > 255 and im.mode.startswith("I;16") else max(hi, 1.0))
        im = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        im = Image.fromarray(arr.astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "La", "PA"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "RGBa"):
        background = Image.new("RGB", im.size, ALPHA_BACKGROUND)
        background.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return background
    if im.mode == "1":
        im = im.convert("L")
    return im.convert("RGB")


def resize_center_crop(im: Image.Image, size: int) -> Image.Image:
    """Shorter side to `size` (antialiased bilinear), then the centred size×size square."""
    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


def pil_to_uint8(im: Image.Image) -> torch.Tensor:
    """RGB PIL image → uint8 tensor 3×H×W."""
    # torch loads here, not at the top: scanning and importing a folder (the CLI's scan and import,
    # the Data page's checks) read images without it and start in a fraction of the time.
    import torch

    arr = np.asarray(im, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def load_uint8(path: str | Path, image_size: int) -> torch.Tensor:
    """The preprocessed pixels of one file as uint8 3×S×S (what the cache stores)."""
    return pil_to_uint8(resize_center_crop(open_rgb(path, min_size=image_size), image_size))


def model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×S×S → the float [0, 1] batch the model takes."""
    return images.float().div_(255.0)
