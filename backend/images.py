"""What kind of photo a file really is, judged from its bytes (magic numbers) alone: the
declared content type and the file name are the client's word and are never trusted."""

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
