"""Photos carry pixels only.

What kind of photo a file is comes from its bytes (magic numbers): the declared content type
and the file name are the client's word. Every photo is then decoded by Pillow (pillow-heif
for HEIC) and encoded anew from its pixels, so nothing the camera or an editor wrote beside
them survives: EXIF (GPS position, camera serial, owner), XMP, IPTC, comments, APPn
segments of any number, ICC profiles (their header names the device's maker and model;
colours are converted to sRGB first), MPO second images, unknown PNG chunks and bytes
appended after the end. HEIC is stored as JPEG, which every browser shows. The EXIF
orientation is applied to the pixels before it is dropped, so the photo stays upright.

Image bombs stop at Pillow's own limit (`Image.MAX_IMAGE_PIXELS`, checked from the header,
before any pixel is decoded). Pure: no I/O, safe to run in a worker thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

JPEG = "image/jpeg"
PNG = "image/png"
HEIC = "image/heic"

# Above this Pillow refuses to decode (DecompressionBombError past twice it, a warning that
# we treat as the same refusal past it). 50 megapixels holds any phone's full-resolution
# photo (48-50 MP sensors) and keeps a decode within ~200 MB.
MAX_PIXELS = 50_000_000
# Longest side kept: 16 MP is more than enough to read a document or a number plate, and
# the re-encoded photo then stays under the 5 MB an attachment may take.
MAX_SIDE = 4096
JPEG_QUALITIES = (88, 75, 60)

Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Past MAX_PIXELS Pillow only warns; `scrub_photo` refuses such an image itself.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# HEIF brands of HEVC-coded images (what phones write as .heic); mif1/msf1 alone are any
# HEIF (AVIF too), so they count only with an HEVC brand beside them.
HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
# The Pillow decoders each sniffed type may use: nothing else gets to parse the bytes (the
# JPEG decoder opens MPO too, and takes its first picture).
DECODERS = {JPEG: ("JPEG",), PNG: ("PNG",), HEIC: ("HEIF",)}


def _heic(data: bytes) -> bool:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[0:4], "big")
    if size < 16 or size > len(data) or size % 4:
        return False
    brands = [data[8:12]] + [data[i : i + 4] for i in range(16, size, 4)]
    return any(brand in HEIC_BRANDS for brand in brands)


def sniff_image_type(data: bytes) -> str | None:
    """image/jpeg, image/png or image/heic when the bytes are one; else None."""
    if data[:3] == b"\xff\xd8\xff" and len(data) >= 4:
        return JPEG
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR":
        return PNG
    if _heic(data):
        return HEIC
    return None


class PhotoRefused(Exception):
    """A photo that is not stored."""


class UnsupportedImage(PhotoRefused):
    """Not a JPEG, PNG or HEIC photo that decodes (or one whose bytes are broken)."""


class TooManyPixels(PhotoRefused):
    """More pixels than MAX_PIXELS: refused before decoding (an image bomb, or near one)."""

    def __init__(self, pixels: int) -> None:
        super().__init__(f"{pixels} pixels, more than {MAX_PIXELS}")
        self.pixels = pixels


class TooLargeEncoded(PhotoRefused):
    """Even re-encoded at the lowest quality the photo exceeds the size limit."""


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The pixels in sRGB: a photo tagged with another profile (Display P3 on iPhones) is
    converted, so dropping the profile does not wash out its colours."""
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: the pixels as they are
    return converted if converted is not None else image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _pixels_only(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """A new image holding only the pixels: no info dict, no palette tricks, no profile."""
    mode = "RGBA" if keep_alpha else "RGB"
    if image.mode != mode:
        if not keep_alpha and _has_alpha(image):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert(mode)
    return Image.frombytes(mode, image.size, image.tobytes())


def _encode(image: Image.Image, fmt: str, max_bytes: int) -> tuple[bytes, str]:
    if fmt == "PNG":
        out = io.BytesIO()
        image.save(out, "PNG")
        if out.tell() <= max_bytes:
            return out.getvalue(), PNG
        image = _pixels_only(image, keep_alpha=False)  # a huge screenshot: JPEG is the way
    for quality in JPEG_QUALITIES:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue(), JPEG
    raise TooLargeEncoded(f"more than {max_bytes} bytes even at JPEG quality {JPEG_QUALITIES[-1]}")


def scrub_photo(data: bytes, max_bytes: int) -> CleanPhoto:
    """The photo decoded and encoded anew from its pixels, upright (EXIF orientation
    applied), in sRGB, at most MAX_SIDE on its longest side: JPEG for JPEG and HEIC, PNG
    for PNG (screenshots stay sharp; JPEG when a PNG would exceed max_bytes).

    Raises UnsupportedImage (not a photo we take, or broken), TooManyPixels (an image bomb),
    TooLargeEncoded."""
    kind = sniff_image_type(data)
    if kind is None:
        raise UnsupportedImage("not a JPEG, PNG or HEIC")
    try:
        image = Image.open(io.BytesIO(data), formats=DECODERS[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels(MAX_PIXELS + 1) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnsupportedImage(str(exc)) from None
    pixels = image.width * image.height
    if pixels > MAX_PIXELS:
        raise TooManyPixels(pixels)
    try:
        if kind == JPEG:
            # Decode at the smallest libjpeg scale still at least MAX_SIDE: less memory and time.
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        image.load()
        icc = image.info.get("icc_profile")
        keep_alpha = kind == PNG and _has_alpha(image)
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in ("RGB", "RGBA"):
            upright = upright.convert("RGBA" if keep_alpha else "RGB")
        upright = _to_srgb(upright, icc)
        upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        clean = _pixels_only(upright, keep_alpha)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnsupportedImage(str(exc)) from None
    encoded, content_type = _encode(clean, "PNG" if kind == PNG else "JPEG", max_bytes)
    return CleanPhoto(encoded, content_type, clean.width, clean.height)
