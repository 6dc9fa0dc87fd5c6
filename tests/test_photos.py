"""Photos carry pixels only (point 7 of issue 10): every photo is decoded and encoded anew,
upright, and nothing else survives — checked on the stored bytes themselves (their JPEG
segments and PNG chunks, and the absence of the planted values), not through a metadata API
that might not look where the metadata hides. Image bombs are refused before decoding, and
nothing is stored when a photo is refused. `commune-pulse photos scrub` cleans older photos."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image, ImageCms

from backend import cli
from backend.images import (
    MAX_PIXELS,
    MAX_SIDE,
    TooManyPixels,
    UnsupportedImage,
    scrub_photo,
)
from backend.settings import Settings
from backend.storage import attachment_store, new_key
from tests.conftest import FEEDBACK_KEYS, FINGERPRINT_KEYS, JWT_SECRET, TokenFor
from tests.test_feedback_citizen import feedback, stored_bytes, submit
from tests.test_feedback_confidentiality import add_staff

LIMIT = 5 * 1024 * 1024
# Values planted in the metadata; none may appear in what is stored.
GPS = b"GPS 21.0285N 105.8542E"
SERIAL = b"SN-4471-CAMERA-SERIAL"
OWNER = b"Le Thi Hoa"
XMP = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:creator>Le Thi Hoa</dc:creator></x:xmpmeta>"
PLANTED = (GPS, SERIAL, OWNER, b"xmpmeta", b"Exif", b"JUMB", b"c2pa", b"SECOND", b"prVt", b"appended tail")
RED, BLUE = (220, 20, 20), (20, 20, 220)


def two_colour(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: its orientation can be read from the pixels."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def exif_block(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Camera Maker"
    exif[0x0110] = SERIAL.decode()
    exif[0x013B] = OWNER.decode()  # Artist
    exif[0x010E] = GPS.decode()  # ImageDescription
    return exif.tobytes()


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert segments right after SOI (and the APP0/APP1 Pillow wrote stays where it is)."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of a JPEG up to its start of scan, then whether anything follows EOI."""
    assert data[:2] == b"\xff\xd8"
    markers, i = [], 2
    while True:
        assert data[i] == 0xFF
        marker = data[i + 1]
        markers.append(marker)
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:
            break
        i += 2 + length
    assert data.endswith(b"\xff\xd9")
    # One picture only: no second SOI in the scan data (0xFF is stuffed there as FF 00).
    assert data.count(b"\xff\xd8") == 1
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, i = [], 8
    while i < len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        kinds.append(data[i + 4 : i + 8])
        i += 12 + length
    assert i == len(data)  # nothing after IEND
    return kinds


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def assert_clean_jpeg(data: bytes) -> None:
    # SOI, APP0 (JFIF), quantisation, frame, Huffman tables, scan: no APP1-APP15, no COM.
    assert set(jpeg_markers(data)) <= {0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDD, 0xDA}
    for value in PLANTED:
        assert value not in data, value


def dirty_jpeg() -> bytes:
    """A phone-like JPEG turned sideways (orientation 6) with EXIF, XMP, an APP11 (JUMBF /
    C2PA content credentials), IPTC, a comment, an ICC profile, a second image after the
    first (as MPO and some editors append), and bytes after that."""
    out = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    two_colour().save(out, "JPEG", exif=exif_block(6), icc_profile=icc, comment=OWNER, quality=95)
    second = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(second, "JPEG", comment=b"SECOND " + SERIAL)
    jpeg = with_segments(
        out.getvalue(),
        segment(0xE1, XMP),
        segment(0xEB, b"JP\x00\x01\x00\x00\x00\x01" + b"JUMB" + b"c2pa" + OWNER),
        segment(0xED, b"Photoshop 3.0\x008BIM" + GPS),
    )
    return jpeg + second.getvalue() + b"appended tail " + GPS


def dirty_png() -> bytes:
    out = io.BytesIO()
    two_colour().save(out, "PNG")
    data = out.getvalue()
    ihdr_end = 8 + 25
    extra = (
        png_chunk(b"prVt", b"private " + SERIAL)  # a private (ancillary, unknown) chunk
        + png_chunk(b"tEXt", b"Author\x00" + OWNER)
        + png_chunk(b"eXIf", exif_block())
        + png_chunk(b"tIME", b"\x07\xea\x0b\x1c\x0c\x00\x00")
    )
    return data[:ihdr_end] + extra + data[ihdr_end:] + b"appended tail " + GPS


def dirty_heic() -> bytes:
    out = io.BytesIO()
    two_colour().save(out, "HEIF", exif=exif_block(1), xmp=XMP[29:], quality=90)
    return out.getvalue()


def colour_at(image: Image.Image, xy: tuple[int, int]) -> str:
    r, _, b = image.convert("RGB").getpixel(xy)[:3]  # type: ignore[index]
    return "red" if r > b else "blue"


def test_a_jpeg_keeps_its_pixels_upright_and_nothing_else() -> None:
    data = dirty_jpeg()
    assert all(value in data for value in (GPS, SERIAL, OWNER, b"xmpmeta", b"JUMB", b"SECOND"))  # planted
    clean = scrub_photo(data, LIMIT)
    assert clean.content_type == "image/jpeg"
    assert_clean_jpeg(clean.data)
    image = Image.open(io.BytesIO(clean.data))
    assert image.size == (20, 40)  # orientation 6 applied: turned a quarter clockwise
    assert (colour_at(image, (10, 2)), colour_at(image, (10, 37))) == ("red", "blue")
    assert not image.getexif() and "icc_profile" not in image.info and "comment" not in image.info


def test_an_mpo_keeps_only_its_first_picture() -> None:
    """Phones write MPO (an APP2 index and a second, often depth or wide-angle, picture)."""
    out = io.BytesIO()
    second = Image.new("RGB", (40, 20), (1, 2, 3))
    two_colour().save(out, "MPO", save_all=True, append_images=[second], exif=exif_block())
    data = out.getvalue()
    assert data.count(b"\xff\xd8") >= 2 and b"MPF" in data
    clean = scrub_photo(data, LIMIT)
    assert_clean_jpeg(clean.data)
    assert b"MPF" not in clean.data
    image = Image.open(io.BytesIO(clean.data))
    assert image.format == "JPEG" and colour_at(image, (5, 10)) == "red"


def test_a_png_keeps_only_its_picture_chunks() -> None:
    data = dirty_png()
    assert b"prVt" in data and SERIAL in data
    clean = scrub_photo(data, LIMIT)
    assert clean.content_type == "image/png"
    assert png_chunks(clean.data) == [b"IHDR", b"IDAT", b"IEND"]
    for value in PLANTED:
        assert value not in clean.data, value
    image = Image.open(io.BytesIO(clean.data))
    assert image.size == (40, 20)
    assert (colour_at(image, (5, 10)), colour_at(image, (35, 10))) == ("red", "blue")


def test_a_transparent_png_keeps_its_alpha() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(out, "PNG")
    clean = scrub_photo(out.getvalue(), LIMIT)
    assert Image.open(io.BytesIO(clean.data)).mode == "RGBA"


def test_a_heic_with_exif_becomes_a_clean_jpeg() -> None:
    data = dirty_heic()
    assert SERIAL in data and b"Exif" in data  # the HEIC carries its EXIF
    clean = scrub_photo(data, LIMIT)
    assert clean.content_type == "image/jpeg"
    assert_clean_jpeg(clean.data)
    image = Image.open(io.BytesIO(clean.data))
    assert image.size == (40, 20)
    assert (colour_at(image, (5, 10)), colour_at(image, (35, 10))) == ("red", "blue")


def test_a_sideways_heic_comes_out_upright() -> None:
    out = io.BytesIO()
    two_colour().save(out, "HEIF", exif=exif_block(6))  # pillow-heif turns it into an irot box
    image = Image.open(io.BytesIO(scrub_photo(out.getvalue(), LIMIT).data))
    assert image.size == (20, 40)  # turned once, not twice
    assert (colour_at(image, (10, 2)), colour_at(image, (10, 37))) == ("red", "blue")


def test_a_large_photo_is_brought_down_to_the_longest_side() -> None:
    out = io.BytesIO()
    Image.new("RGB", (MAX_SIDE * 2, 100), (90, 90, 90)).save(out, "JPEG")
    clean = scrub_photo(out.getvalue(), LIMIT)
    assert (clean.width, clean.height) == (MAX_SIDE, 50)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming width x height, with a few bytes of deflated zeros after it:
    tiny on the wire, gigabytes once decoded."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * 100_000, 9))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + png_chunk(b"IEND", b"")


def bomb_jpeg(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to claim width x height."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        bomb_png(30_000, 30_000),  # 900 MP: past twice the limit, Pillow's DecompressionBombError
        bomb_png(8_000, 7_000),  # 56 MP: past the limit, under twice it (Pillow only warns)
        bomb_jpeg(65_000, 65_000),
    ],
)
def test_image_bombs_are_refused_before_decoding(data: bytes) -> None:
    assert len(data) < 2_000
    with pytest.raises(TooManyPixels):
        scrub_photo(data, LIMIT)


def test_the_limit_itself_is_allowed_to_the_header() -> None:
    # Exactly MAX_PIXELS passes the bomb check; this one then fails on its broken data.
    with pytest.raises(UnsupportedImage):
        scrub_photo(bomb_png(MAX_PIXELS // 5_000, 5_000), LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,  # starts like a JPEG, is not one
        dirty_png()[:60],  # cut inside the picture data
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,  # HEIC brand, no image
        b"GIF89a" + b"\x00" * 20,
    ],
)
def test_what_does_not_decode_is_refused(data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        scrub_photo(data, LIMIT)


async def test_uploaded_photos_are_stored_clean_and_upright(
    client: AsyncTestClient[Any],
    citizen_headers: dict[str, str],
    db: asyncpg.Connection,
    settings: Settings,
    headers_for: TokenFor,
) -> None:
    photos = [
        ("a.jpg", dirty_jpeg(), "image/jpeg"),
        ("b.png", dirty_png(), "image/png"),
        ("c.heic", dirty_heic(), "image/heic"),
    ]
    response = await submit(client, citizen_headers, feedback(), photos)
    assert response.status_code == 201, response.text
    assert [a["content_type"] for a in response.json()["attachments"]] == ["image/jpeg", "image/png", "image/jpeg"]
    rows = await db.fetch("select storage_key, reencoded_at from feedback_attachments order by position")
    jpeg, png, heic = (stored_bytes(settings, row["storage_key"]) for row in rows)
    assert all(row["reencoded_at"] is not None for row in rows)
    assert_clean_jpeg(jpeg)
    assert_clean_jpeg(heic)
    assert png_chunks(png) == [b"IHDR", b"IDAT", b"IEND"]
    assert Image.open(io.BytesIO(jpeg)).size == (20, 40)

    # What the Front downloads is the clean copy.
    await add_staff(db, "front.badinh.photos", "front_staff", "commune", "00004")
    item = response.json()
    served = await client.get(
        f"/v1/front/feedback/{item['id']}/attachments/{item['attachments'][0]['id']}",
        headers=await headers_for("front.badinh.photos"),
    )
    assert served.status_code == 200, served.text
    assert served.content == jpeg


async def test_a_refused_photo_stores_nothing(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection, settings: Settings
) -> None:
    good = ("a.jpg", dirty_jpeg(), "image/jpeg")
    bomb = await submit(client, citizen_headers, feedback(), [good, ("b.png", bomb_png(30_000, 30_000), "image/png")])
    assert bomb.status_code == 413, bomb.text
    problem = bomb.json()
    assert (problem["code"], problem["attachment_index"]) == ("attachment_too_many_pixels", 1)
    assert problem["messages"]["vi"] and problem["messages"]["en"]
    near = await submit(client, citizen_headers, feedback(), [("c.jpg", bomb_jpeg(9_000, 6_000), "image/jpeg")])
    assert (near.status_code, near.json()["code"]) == (413, "attachment_too_many_pixels")
    broken = await submit(client, citizen_headers, feedback(), [good, ("d.png", dirty_png()[:60], "image/png")])
    assert (broken.status_code, broken.json()["code"]) == (415, "attachment_type_not_allowed")

    assert await db.fetchval("select count(*) from feedback") == 0
    assert await db.fetchval("select count(*) from feedback_attachments") == 0
    attachments = Path(settings.data_dir) / "attachments"
    assert not attachments.exists() or not [p for p in attachments.rglob("*") if p.is_file()]


OLD_ATTACHMENT_SQL = """
insert into feedback_attachments (feedback_id, storage_key, content_type, size_bytes, sha256, position, reencoded_at)
values ($1, $2, $3, $4, sha256($5), $6, null)
returning id
"""


def test_photos_scrub_cleans_photos_stored_before(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Photos stored by the older code (metadata partly left in, HEIC as sent) are
    re-encoded by `commune-pulse photos scrub`, once."""
    store = attachment_store(settings)
    old = {"jpeg": dirty_jpeg(), "heic": dirty_heic(), "broken": b"\xff\xd8\xff\xe0" + b"\x00" * 40}
    types = {"jpeg": "image/jpeg", "heic": "image/heic", "broken": "image/jpeg"}
    keys = {name: new_key() for name in old}

    async def arrange() -> dict[str, int]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            install = await conn.fetchval(
                "insert into citizen_installs (install_id, secret_hash, platform) "
                "values ('test-scrub-install', '\\x00', 'ios') returning id"
            )
            item = await conn.fetchval(
                "insert into feedback (reference, citizen_id, category, commune_code, body, is_anonymous) "
                "values ('GY-2026-999999', $1, 'complaint', '00004', 'Ảnh cũ', true) returning id",
                install,
            )
            ids = {}
            for position, (name, data) in enumerate(old.items()):
                await store.put(keys[name], data, types[name])
                ids[name] = await conn.fetchval(
                    OLD_ATTACHMENT_SQL, item, keys[name], types[name], len(data), data, position
                )
            return ids
        finally:
            await conn.close()

    async def rows() -> dict[int, Any]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            found = await conn.fetch(
                "select id, storage_key, content_type, size_bytes, reencoded_at from feedback_attachments"
            )
            return {row["id"]: row for row in found}
        finally:
            await conn.close()

    ids = asyncio.run(arrange())
    environ = {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "DATA_DIR": settings.data_dir,
        "JWT_SECRET": JWT_SECRET,
        "FEEDBACK_KEYS": ",".join(f"{k}:{v}" for k, v in FEEDBACK_KEYS),
        "FINGERPRINT_KEYS": ",".join(f"{k}:{v}" for k, v in FINGERPRINT_KEYS),
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    assert cli.main(["photos", "scrub"]) == 0
    printed = capsys.readouterr().out
    assert "photos re-encoded: 2" in printed
    assert f"unreadable photos: 1 (attachment ids {ids['broken']})" in printed
    after = asyncio.run(rows())
    for name in ("jpeg", "heic"):
        row = after[ids[name]]
        assert row["storage_key"] != keys[name] and row["reencoded_at"] is not None
        assert row["content_type"] == "image/jpeg"
        data = stored_bytes(settings, row["storage_key"])
        assert len(data) == row["size_bytes"]
        assert_clean_jpeg(data)
        assert not (Path(settings.data_dir) / "attachments" / keys[name][:2] / keys[name]).exists()  # old file gone
    assert after[ids["broken"]]["reencoded_at"] is None

    # A second run re-encodes nothing again; dropping the unreadable one removes row and file.
    assert cli.main(["photos", "scrub", "--drop-unreadable"]) == 0
    printed = capsys.readouterr().out
    assert "photos re-encoded: 0" in printed and "unreadable photos dropped: 1" in printed
    after = asyncio.run(rows())
    assert ids["broken"] not in after and len(after) == 2
    assert not (Path(settings.data_dir) / "attachments" / keys["broken"][:2] / keys["broken"]).exists()
