"""What kind of photo a file really is, judged from its bytes (magic numbers) alone: the
declared content type and the file name are the client's word and are never trusted; and
the photo without the metadata that could name its author (EXIF with GPS position, camera
serial and owner, XMP, IPTC, comments)."""

from __future__ import annotations

JPEG = "image/jpeg"
PNG = "image/png"
HEIC = "image/heic"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# HEIF brands of HEVC-coded images (what phones write as .heic); mif1/msf1 alone are any
# HEIF (AVIF too), so they count only with an HEVC brand beside them.
HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})


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


# JPEG segments that carry metadata rather than the picture: APP1 (EXIF, XMP), APP13
# (IPTC), COM. APP0 (JFIF) and APP2 (ICC colour profile) are kept.
JPEG_METADATA_MARKERS = frozenset({0xE1, 0xED, 0xFE})
# PNG chunks that carry metadata: EXIF, text, modification time.
PNG_METADATA_CHUNKS = frozenset({b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"tIME"})


class MalformedImage(ValueError):
    """The bytes start like an image but their structure does not hold together."""


def _strip_jpeg(data: bytes) -> bytes:
    out, i = bytearray(data[:2]), 2
    while i < len(data):
        if data[i] != 0xFF:
            raise MalformedImage("expected a JPEG marker")
        while i < len(data) and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= len(data):
            raise MalformedImage("truncated JPEG")
        marker = data[i]
        i += 1
        if marker == 0xD9:  # end of image
            out += bytes((0xFF, marker))
            return bytes(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            out += bytes((0xFF, marker))
            continue
        if i + 2 > len(data):
            raise MalformedImage("truncated JPEG segment")
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > len(data):
            raise MalformedImage("JPEG segment runs past the end")
        if marker == 0xDA:  # start of scan: the picture itself follows, to the end
            out += bytes((0xFF, marker)) + data[i:]
            return bytes(out)
        if marker not in JPEG_METADATA_MARKERS:
            out += bytes((0xFF, marker)) + data[i : i + length]
        i += length
    raise MalformedImage("JPEG without image data")


def _strip_png(data: bytes) -> bytes:
    out, i = bytearray(data[:8]), 8
    while i < len(data):
        if i + 12 > len(data):
            raise MalformedImage("truncated PNG chunk")
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            raise MalformedImage("PNG chunk runs past the end")
        if kind not in PNG_METADATA_CHUNKS:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            return bytes(out)
    raise MalformedImage("PNG without IEND")


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """The photo without its metadata. HEIC is kept as sent: its EXIF sits inside nested
    ISO-BMFF boxes that cannot be dropped without rewriting the offsets that point past them
    (phones' share sheets usually strip location; a server-side transcode is the fix)."""
    if content_type == JPEG:
        return _strip_jpeg(data)
    if content_type == PNG:
        return _strip_png(data)
    return data
