"""What an authority reads of a feedback item is a redacted copy: e-mail addresses, numbers
long enough to be a phone, ID or account number, and names introduced the way Vietnamese
introduces a person are masked. The reporter's identity is never part of the copy to begin
with (it lives encrypted elsewhere); this catches what the citizen wrote into the text.

Pure: `redact(text)` returns the masked text; `findings(text)` says what would be masked.

The text is normalised first, because people (and copy-paste) disguise what they write:
NFKC folds full-width digits and `＠` into ASCII, and format characters (zero-width spaces
and joiners, soft hyphens, direction marks) are dropped, so `0912​345​678` is a phone
number. Vietnamese diacritics survive (NFKC composes them). Then, in this order:

1. e-mail addresses, plain or disguised: `[at]`, `(at)`, ` a còng `, spaces around `@`,
   `[dot]`, ` chấm `;
2. names after "tôi là", "tên tôi là", "tôi tên", "họ và tên", "ông", "bà", "anh", "chị"…:
   the capitalised words that follow (a title such as "Chủ tịch" is skipped, not masked;
   "bà con", "anh em" are not names; "Bà Rịa" after "tỉnh" is a place);
3. every run of nine or more digits, whatever separates them (spaces, dots, dashes,
   parentheses, slashes, commas without a space after them), except dates, times, sums of
   money written as such (`150.000.000 đồng`) and dossier codes (`H01.20-260504-0001`).
   A run is masked as a phone number (0 + 9-10 digits, or 84 + 9-10), an ID number (9 or
   12 digits: CMND, CCCD) or another number (bank accounts and the like).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

EMAIL_MASK = "[email đã ẩn]"
ID_MASK = "[số giấy tờ đã ẩn]"
PHONE_MASK = "[số điện thoại đã ẩn]"
NUMBER_MASK = "[số đã ẩn]"
NAME_MASK = "[tên đã ẩn]"

MIN_DIGITS = 9


def normalise(text: str) -> str:
    """NFKC, without format characters (Unicode category Cf: zero-width space, joiners,
    soft hyphen, bidirectional marks, BOM)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


# --- e-mail addresses -------------------------------------------------------------------

_SP = r"[^\S\n]"  # a space or tab, never a line break
_LOCAL = r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*"
_AT = (
    rf"(?:{_SP}*@{_SP}*"
    rf"|{_SP}*[\[({{<]{_SP}*(?:at|@|a{_SP}*còng|a{_SP}*cong){_SP}*[\])}}>]{_SP}*"
    rf"|{_SP}+(?:at|a{_SP}+còng|a{_SP}+cong){_SP}+)"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A dot written as a word, in brackets or with spaces around it is taken only before a known
# top-level domain, so "… gmail.com. Tôi …" does not swallow the next sentence. Each way of
# writing a dot matches one way only: no backtracking blow-up on long runs of "a . a . a".
_TLDS = r"com|net|org|edu|gov|vn|info|io|me|co|biz|mobi|asia|online|site|xyz|app|dev|us|uk|jp|kr|cn|fr|de|au|ca"
_ANY_DOT = (
    rf"(?:{_SP}*(?:\.|[\[(]{_SP}*(?:dot|chấm|\.){_SP}*[\])]){_SP}*"
    rf"|{_SP}+(?:dot|chấm){_SP}+)"
)
_PROVIDERS = r"gmail|yahoo|outlook|hotmail|icloud|live|protonmail"
_DOMAIN = (
    rf"(?:{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,24}}(?![\w-])"
    rf"|{_LABEL}(?:{_ANY_DOT}{_LABEL})*?{_ANY_DOT}(?:{_TLDS})(?![\w-])"
    rf"|(?:{_PROVIDERS})(?![\w.-]))"
)
EMAIL = re.compile(rf"{_LOCAL}{_AT}{_DOMAIN}", re.IGNORECASE)


# --- names ------------------------------------------------------------------------------

# What introduces a person; matched case-insensitively as whole words.
_INTRODUCERS = (
    r"tên\s+tôi\s+là|tôi\s+tên\s+là|tôi\s+tên|tôi\s+là|họ\s+và\s+tên|họ\s+tên|tên\s+là|tên\s+em\s+là|"
    r"em\s+tên\s+là|em\s+tên|em\s+là|mình\s+tên\s+là|mình\s+tên|mình\s+là|cháu\s+là|người\s+gửi|"
    r"ông|bà|anh|chị|cô|chú|em"
)
NAME_INTRO = re.compile(rf"(?<![^\W\d_])(?:{_INTRODUCERS})(?![^\W\d_]){_SP}*[:,]?{_SP}*", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_GAP = re.compile(rf"{_SP}+")
# Titles and common nouns that follow "ông", "tôi là" … capitalised but are not names
# (the first two words, lower-cased). A name after the title is still masked.
TITLES = frozenset(
    {
        "chủ tịch", "chủ nhiệm", "phó chủ", "phó giám", "phó trưởng", "bí thư", "trưởng phòng", "trưởng ban",
        "trưởng thôn", "trưởng ấp", "trưởng công", "trưởng khu", "giám đốc", "cán bộ", "công an", "công chức",
        "kế toán", "tổ trưởng", "đội trưởng", "hiệu trưởng", "thủ quỹ", "chánh văn", "đảng viên", "cựu chiến",
        "hội viên", "đoàn viên", "người dân", "dân quân", "nhân viên", "trung tá", "trung úy", "trung uý",
        "thiếu tá", "thiếu úy", "thiếu uý", "đại tá", "đại úy", "đại uý", "thượng tá", "bác sĩ", "luật sư",
        "tiến sĩ", "thạc sĩ", "giáo viên", "thanh tra", "ủy viên", "uỷ viên", "chi hội", "chi bộ", "công dân",
        "cử tri", "thương binh", "chủ hộ", "chủ quán", "tổ phó", "trưởng đoàn",
    }
)  # fmt: skip
# Place words after which a capitalised "Bà", "Ông", "Anh" … is part of a name of a place
# or a street (tỉnh Bà Rịa, phố Bà Triệu, cầu Ông Lãnh, huyện Anh Sơn).
PLACE_WORDS = frozenset(
    {
        "tỉnh", "huyện", "xã", "phường", "quận", "thị", "thành", "phố", "đường", "cầu", "chợ", "núi", "ngõ",
        "hẻm", "khu", "ấp", "thôn", "bản", "làng", "sông", "đền", "chùa", "miếu", "nước", "vùng",
    }
)  # fmt: skip
MAX_NAME_WORDS = 5


def _is_name_word(word: str) -> bool:
    """Capitalised as a name is: An, Nguyễn, Đặng; a single capital initial (ông A)."""
    return word[0].isupper() and (len(word) == 1 or word[1:].islower())


def _name_after(text: str, start: int) -> tuple[int, int] | None:
    """The span of the name that starts at `start` (a title skipped first), if any."""
    words: list[re.Match[str]] = []
    position = start
    while len(words) < MAX_NAME_WORDS + 3:
        match = _WORD.match(text, position)
        if match is None:
            break
        words.append(match)
        gap = _GAP.match(text, match.end())
        if gap is None:
            break
        position = gap.end()
    if not words:
        return None
    first = 0
    if len(words) >= 3 and words[0][0].lower() == "phó" and f"{words[1][0]} {words[2][0]}".lower() in TITLES:
        first = 3  # Phó Chủ tịch
    elif len(words) >= 2 and f"{words[0][0]} {words[1][0]}".lower() in TITLES:
        first = 2
    name: list[re.Match[str]] = []
    for word in words[first:]:
        if not _is_name_word(word[0]) or len(name) == MAX_NAME_WORDS:
            break
        name.append(word)
    if not name:
        return None
    return name[0].start(), name[-1].end()


def _previous_word(text: str, end: int) -> str:
    match = re.search(r"([^\W\d_]+)\s*$", text[:end])
    return match[1].lower() if match else ""


def _names(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for intro in NAME_INTRO.finditer(text):
        word = intro[0].strip(" \t:,")
        if word[0].isupper() and " " not in word and _previous_word(text, intro.start()) in PLACE_WORDS:
            continue  # tỉnh Bà Rịa, phố Bà Triệu
        if intro.end() == intro.start() + len(word):
            continue  # nothing between the introducer and what follows: not followed by a word
        span = _name_after(text, intro.end())
        if span is not None and not (spans and span[0] < spans[-1][1]):
            spans.append(span)
    return spans


# --- long numbers -----------------------------------------------------------------------

_SEPARATOR = r"[^\S\n]|[.,\-_/\\()\[\]{}'\"*·•+~|:;–—−‐‑‒―]"
DIGIT_RUN = re.compile(rf"(?:\(?\+|\()?\d(?:(?:{_SEPARATOR}){{0,3}}\d)*")
# A comma or semicolon followed by a space ends a number: "số nhà 12, 15, 17" is a list.
_LIST_BREAK = re.compile(rf"[,;]{_SP}")
# Numbers that are not about a person: kept whole, and they end a run.
_KEPT = re.compile(
    r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])([/.-])(?:0?[1-9]|1[0-2])\1(?:19|20)\d{2}(?!\d)"  # 12/05/2026
    r"|(?<![\d:])(?:[01]?\d|2[0-3])[:h]\d{2}(?![\d:])"  # 10:30, 7h15
    r"|(?<![\d.,])[1-9]\d{0,2}([.,  ])\d{3}(?:\2\d{3})*(?!\d)"  # 150.000.000 đồng
    r"(?=[^\S\n]?(?:đồng(?![^\S\n]+chí)|đ|₫|vnđ|vnd)(?![^\W\d_]))"
    r"|(?<=[A-Za-z])\d{2}(?:\.\d{2})?-\d{6}-\d{4}(?!\d)",  # dossier code H01.20-260504-0001
    re.IGNORECASE,
)


def _number_mask(digits: str) -> tuple[str, str]:
    if (digits.startswith("0") and len(digits) in (10, 11)) or (digits.startswith("84") and len(digits) in (11, 12)):
        return "phone", PHONE_MASK
    if len(digits) in (9, 12):
        return "id_number", ID_MASK
    return "number", NUMBER_MASK


def _numbers(text: str) -> list[tuple[int, int, str, str]]:
    shadow = _KEPT.sub(lambda m: "\x00" * len(m[0]), text)
    spans = []
    for run in DIGIT_RUN.finditer(shadow):
        start = run.start()
        pieces = [*_LIST_BREAK.finditer(run[0]), None]
        for cut in pieces:
            end = run.start() + cut.start() if cut is not None else run.end()
            piece = text[start:end]
            digits = re.sub(r"\D", "", piece)
            if len(digits) >= MIN_DIGITS:
                first = re.search(r"[\d(+]", piece)
                last = len(piece) - re.search(r"\d", piece[::-1]).end() + 1  # type: ignore[union-attr]
                tail = 1 if piece[last : last + 1] == ")" and "(" in piece[:last] else 0
                kind, mask = _number_mask(digits)
                spans.append((start + (first.start() if first else 0), start + last + tail, kind, mask))
            if cut is not None:
                start = run.start() + cut.end()
    return spans


# --- the copy -----------------------------------------------------------------------------


def _apply(text: str, spans: list[tuple[int, int, str, str]], counts: dict[str, int]) -> str:
    for start, end, kind, mask in sorted(spans, reverse=True):
        text = text[:start] + mask + text[end:]
        counts[kind] = counts.get(kind, 0) + 1
    return text


Finder = Callable[[str], list[tuple[int, int, str, str]]]
_STAGES: tuple[Finder, ...] = (
    lambda text: [(m.start(), m.end(), "email", EMAIL_MASK) for m in EMAIL.finditer(text)],
    lambda text: [(start, end, "name", NAME_MASK) for start, end in _names(text)],
    _numbers,
)


def redact_with_findings(text: str) -> tuple[str, dict[str, int]]:
    """The masked copy and how many of each kind were masked (never the values)."""
    counts: dict[str, int] = {}
    text = normalise(text)
    for stage in _STAGES:
        text = _apply(text, stage(text), counts)
    return text, counts


def redact(text: str) -> str:
    """The normalised text with e-mail addresses, names introduced as such and runs of
    nine or more digits masked."""
    return redact_with_findings(text)[0]


def findings(text: str) -> dict[str, int]:
    """How many of each kind `redact` masks (for the forward's event, never the values)."""
    return redact_with_findings(text)[1]
