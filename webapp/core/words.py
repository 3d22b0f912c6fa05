"""How the product's sentences count things, so none reads "1 reports" or "198 report(s)"."""


def plural(count: int, word: str, words: str | None = None) -> str:
    """'1 report', '1,234 reports'; `words` for a plural not made with an s ('quizzes')."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"
