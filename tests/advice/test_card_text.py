"""The cards' own text, with the words a reason quotes marked."""
from __future__ import annotations

import pytest

from resnet_core.advice.card_text import DOCUMENTS, document_text, documents_quoted, highlighted, quotes
from resnet_core.advice.recommend import recommend


def test_every_document_is_shipped_with_the_app():
    for name in DOCUMENTS:
        assert len(document_text(name)) > 1_000
    with pytest.raises(ValueError, match="no document"):
        document_text("ResNet-152 card")


def test_every_quote_of_the_wizard_is_found_in_a_document_it_names():
    for gpu in (None, 8.0, 80.0):
        for n in (60, 700, 3_000, 30_000):
            for weights in ("imagenet", "none"):
                r = recommend(n, 10, gpu, weights=weights)
                for reason in r.why.values():
                    texts = [document_text(d) for d in documents_quoted(reason)]
                    for piece in quotes(reason):
                        if any(c.isalpha() for c in piece) and texts:
                            assert any(_found(piece, t) for t in texts) or piece.startswith("Input"), \
                                (piece, reason)


def test_the_quoted_words_are_marked_and_the_rest_is_plain():
    reason = 'Batch size 8: the ResNet-18 card says "Reduce batch_size to 4-8 for CPU".'
    assert documents_quoted(reason) == ["ResNet-18 card"]
    text, found = highlighted(document_text("ResNet-18 card"), quotes(reason))
    assert found == 1
    assert ":orange-background[**Reduce batch\\_size to 4-8 for CPU**]" in text
    assert text.count(":orange-background[") == 1


def _found(piece: str, text: str) -> bool:
    return highlighted(text, [piece])[1] == 1
