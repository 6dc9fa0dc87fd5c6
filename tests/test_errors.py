import pytest

from backend.errors import CATALOG, preferred_language


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "vi"),
        ("", "vi"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("vi-VN,vi;q=0.9,en;q=0.8", "vi"),
        ("fr-FR,en;q=0.5", "en"),
        ("fr", "vi"),
        ("vi;q=0.2, en;q=0.8", "en"),
        ("en;q=0, vi", "vi"),
        ("en;q=abc", "vi"),
    ],
)
def test_accept_language(header: str | None, language: str) -> None:
    assert preferred_language(header) == language


def test_every_problem_has_both_languages_and_a_4xx_or_5xx_status() -> None:
    for code, (status, text) in CATALOG.items():
        assert 400 <= status < 600, code
        assert text.vi and text.en and text.vi != text.en, code
