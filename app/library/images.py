"""Decode an uploaded photo from bytes, refusing anything that is not a sane still image.

Pillow reads the header first, so an image whose header claims more pixels than a face photo
needs (MAX_PIXELS, or a decompression bomb) is refused before anything is decoded. EXIF orientation is applied.
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps

FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp"}
# What a face photo needs: a 12 MP phone photo (4032x3024) or a 16 MP camera's, with room to spare.
# Enrolment scales every photo to 1600 px anyway; decoding costs about 12 bytes a pixel at the
# peak (pixels, the upright copy, RGB and BGR), so 16 MP is ~200 MB where 36 MP was 420 MB.
MAX_PIXELS = 16_000_000
# The limit before it was lowered: photos already enrolled up to it are still read by reindex.
STORED_MAX_PIXELS = 40_000_000


class ImageRefused(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


_strict_lock = threading.Lock()


@contextmanager
def _refuse_truncated():
    # Pillow's switch is process-wide and other libraries turn it on at import (face_recognition
    # does): hold it off while decoding, so an incomplete upload is refused, not half-grey.
    with _strict_lock:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved


@dataclass(frozen=True)
class DecodedImage:
    bgr: np.ndarray
    extension: str  # for the stored copy: .jpg .png .webp .bmp


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    if len(data) > max_bytes:
        raise ImageRefused("too_large", f"{len(data) / 1e6:.1f} MB, at most {max_bytes / 1e6:.0f} MB")
    if not data:
        raise ImageRefused("not_image", "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageRefused("too_many_pixels", f"too many pixels ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRefused("not_image", "not an image Daka can read") from exc
    with image:
        if image.format not in FORMATS:
            raise ImageRefused("not_image", f"{image.format} is not accepted; use JPEG, PNG, WebP or BMP")
        width, height = image.size  # from the header: nothing is decoded yet
        if width * height > max_pixels:
            raise ImageRefused("too_many_pixels", f"{width}x{height} pixels ({width * height / 1e6:.1f} MP), "
                                                  f"at most {max_pixels // 1_000_000} MP: scale the photo down")
        try:
            with _refuse_truncated():
                image.load()
            upright = ImageOps.exif_transpose(image)  # decodes the pixels
            rgb = np.asarray(upright.convert("RGB"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageRefused("not_image", f"the image is damaged or incomplete ({exc})") from exc
        extension = FORMATS[image.format]
    return DecodedImage(np.ascontiguousarray(rgb[:, :, ::-1]), extension)
