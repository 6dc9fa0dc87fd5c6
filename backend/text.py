"""Vietnamese text helpers: diacritics-free folding (mirrors SQL fold_vi) and search patterns."""

from __future__ import annotations

import re
import unicodedata

_FROM = (
    "ÀÁÂÃÈÉÊÌÍÎÒÓÔÕÙÚÛÝàáâãèéêìíîòóôõùúûýĂăĔĕĨĩĬĭŎŏŨũŬŭŶŷƠơƯưḌḍṌṍṸṹẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊị"
    "ỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹđĐ"
)
_TO = (
    "aaaaeeeiiioooouuuyaaaaeeeiiioooouuuyaaeeiiiioouuuuyyoouuddoouuaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiii"
    "oooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyydd"
)
_TABLE = str.maketrans(_FROM, _TO)


def fold_vi(text: str) -> str:
    """Lower case without Vietnamese diacritics: 'Kết Hôn' -> 'ket hon', 'Đình' -> 'dinh'."""
    return unicodedata.normalize("NFC", text).translate(_TABLE).lower()


def like_patterns(query: str) -> list[str]:
    """One LIKE pattern per word of a search, folded and escaped: every word must appear."""
    words = fold_vi(query).split()
    return ["%" + re.sub(r"([\\%_])", r"\\\1", word) + "%" for word in words]
