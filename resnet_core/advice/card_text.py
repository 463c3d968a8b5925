"""The model cards' and the cost-performance study's own text, with the sentences a reason quotes
marked, so a user can read a quote in its place instead of taking the wizard's word for it."""
from __future__ import annotations

import re
from pathlib import Path

CARDS_DIR = Path(__file__).resolve().parents[2] / "assets" / "model_cards"
DOCUMENTS = {"ResNet-18 card": "resnet-18-model-card.txt", "ResNet-50 card": "resnet-50-model-card.txt",
             "ResNet-101 card": "resnet-101-model-card.txt",
             "cost-performance study": "cost-performance-study.txt"}
_MIN_PIECE = 4  # shorter pieces ("1", "8") would mark unrelated places


def document_text(name: str) -> str:
    """The text of one document (a DOCUMENTS key); ValueError for another name."""
    if name not in DOCUMENTS:
        raise ValueError(f"no document {name!r}; choose from {', '.join(DOCUMENTS)}")
    return (CARDS_DIR / DOCUMENTS[name]).read_text(encoding="utf-8")


def documents_quoted(reason: str) -> list[str]:
    """The documents a reason names ('the ResNet-50 card', 'the cost-performance study')."""
    return [name for name in DOCUMENTS if name in reason]


def quotes(reason: str) -> list[str]:
    """The quoted pieces of a reason: each "..." quote, split where the wizard joined or shortened
    the card's words ('; ', ' ... ')."""
    pieces = []
    for quote in re.findall(r'"([^"]+)"', reason):
        for piece in re.split(r"\s*\.\.\.\s*|[;:]\s+", quote):
            piece = piece.strip(" .,:")
            if len(piece) >= _MIN_PIECE:
                pieces.append(piece)
    return pieces


def highlighted(text: str, pieces: list[str]) -> tuple[str, int]:
    """The text as Markdown with every piece found marked (bold on a yellow background), and how
    many pieces were found. Whitespace differences (line breaks, bullets' indents) do not matter."""
    spans = []
    for piece in pieces:
        pattern = r"\s+".join(re.escape(word) for word in piece.split())
        spans += [m.span() for m in re.finditer(pattern, text)]
    found = len({p for p in pieces if re.search(r"\s+".join(re.escape(w) for w in p.split()), text)})
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [_escape(text[last:start]), f":orange-background[**{_escape(text[start:end])}**]"]
        last = end
    out.append(_escape(text[last:]))
    return "".join(out).replace("\n", "  \n"), found


def _escape(text: str) -> str:
    """Plain text in Markdown: the cards' '*', '_', '[' and '|' are literal."""
    return re.sub(r"([\\`*_\[\]|#<>$~])", r"\\\1", text)
