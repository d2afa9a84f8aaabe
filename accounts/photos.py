"""Holder photos (for the desk's holder page and the card printer): any JPEG or PNG a camera or
the registry gives, checked with Pillow and stored as a modest JPEG without its metadata."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from .errors import BusinessError

MAX_BYTES = 4 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
MIN_SIDE = 100
BOX = (480, 640)  # an ID photo's 3:4, plenty for a card face at 300 dpi


def photo_check(content: bytes) -> None:
    """What can be told of a photo without decoding it (a millisecond): size, format, pixel count,
    sides. The intake's preview checks thousands this way; photo_normalise decodes at apply."""
    if not content:
        raise BusinessError(_("The photo is empty."))
    if len(content) > MAX_BYTES:
        raise BusinessError(_("The photo is larger than %(mb)d MB.") % {"mb": MAX_BYTES // 1024 // 1024})
    try:
        with Image.open(io.BytesIO(content)) as probe:
            if probe.format not in ("JPEG", "PNG"):
                raise BusinessError(_("A photo must be a JPEG or PNG image."))
            if probe.width * probe.height > MAX_PIXELS:
                raise BusinessError(_("The photo has too many pixels."))
            if min(probe.size) < MIN_SIDE:
                raise BusinessError(_("The photo is smaller than %(px)d pixels on a side.") % {"px": MIN_SIDE})
    except BusinessError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise BusinessError(_("The photo is not a readable JPEG or PNG image.")) from None


def photo_normalise(content: bytes) -> bytes:
    """The photo as a JPEG of at most 480×640, or a BusinessError saying what is wrong."""
    if not content:
        raise BusinessError(_("The photo is empty."))
    if len(content) > MAX_BYTES:
        raise BusinessError(_("The photo is larger than %(mb)d MB.") % {"mb": MAX_BYTES // 1024 // 1024})
    try:
        with Image.open(io.BytesIO(content)) as probe:
            if probe.format not in ("JPEG", "PNG"):
                raise BusinessError(_("A photo must be a JPEG or PNG image."))
            if probe.width * probe.height > MAX_PIXELS:
                raise BusinessError(_("The photo has too many pixels."))
            probe.verify()
        with Image.open(io.BytesIO(content)) as image:
            image.load()
            if min(image.size) < MIN_SIDE:
                raise BusinessError(_("The photo is smaller than %(px)d pixels on a side.") % {"px": MIN_SIDE})
            image = image.convert("RGB")
            image.thumbnail(BOX)
            out = io.BytesIO()
            image.save(out, "JPEG", quality=85, optimize=True)  # no EXIF: no camera, place or time
            return out.getvalue()
    except BusinessError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise BusinessError(_("The photo is not a readable JPEG or PNG image.")) from None
