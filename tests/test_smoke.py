import pytest

import liqcore


def test_version():
    assert liqcore.__version__ == "0.1.0"


def test_book_rejects_unsorted_bids():
    from liqcore.book import Book

    with pytest.raises(ValueError, match=r"bid_px\[1\] must be strictly descending"):
        Book([1.0, 2.0], [1.0, 1.0], [3.0, 4.0], [1.0, 1.0])
