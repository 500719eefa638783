"""liqcore.Positions: validation, selection, frames, pickling."""

from __future__ import annotations

import pickle

import liqcore as lq
import numpy as np
import pytest


def test_columns_and_no_copy() -> None:
    q = np.array([1.0, -2.0, 0.5])
    pos = lq.Positions(q, [100.0, 101.0, 99.0], 10.0)
    assert len(pos) == 3
    assert np.shares_memory(pos.size, q)  # C-contiguous float64 is used as is
    np.testing.assert_array_equal(pos.margin, [10.0, 10.0, 10.0])  # a scalar stands for all
    assert pos.account is None
    with pytest.raises(ValueError, match="read-only"):
        pos.size[0] = 3.0
    assert q.flags.writeable  # the caller's array keeps its flags
    assert repr(pos) == "Positions(n=3, longs=2, shorts=1)"


def test_account_ids() -> None:
    pos = lq.Positions([1.0, 2.0], [100.0, 100.0], [1.0, 1.0], account=[5, 6])
    assert pos.account is not None
    assert pos.account.dtype == np.int64
    assert pos.account.tolist() == [5, 6]
    assert lq.Positions([1.0, 2.0], 100.0, 1.0, account=7).account.tolist() == [7, 7]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"account\[1\] must be a whole number \(got 1.5\)"):
        lq.Positions([1.0, 2.0], 100.0, 1.0, account=[1.0, 1.5])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"size": [1.0, np.nan], "entry_price": 100.0, "margin": 1.0},
            r"size\[1\] must be finite \(got nan\)",
        ),
        (
            {"size": [1.0, 1.0], "entry_price": [100.0, 0.0], "margin": 1.0},
            r"entry_price\[1\] must be finite and > 0 \(got 0.0\)",
        ),
        (
            {"size": [1.0], "entry_price": [np.inf], "margin": 1.0},
            r"entry_price\[0\] must be finite and > 0",
        ),
        (
            {"size": [1.0, 1.0], "entry_price": 100.0, "margin": [1.0, -1.0]},
            r"margin\[1\] must be finite and >= 0 \(got -1.0\)",
        ),
        (
            {"size": [1.0, 2.0], "entry_price": [1.0, 2.0, 3.0], "margin": 1.0},
            r"entry_price has length 3, expected 2 \(the length of size\)",
        ),
        (
            {"size": [1.0, 2.0], "entry_price": 100.0, "margin": 1.0, "account": [1, 2, 3]},
            r"account has length 3, expected 2",
        ),
        (
            {"size": [[1.0]], "entry_price": 100.0, "margin": 1.0},
            r"size must have at most 1 dimension",
        ),
    ],
)
def test_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lq.Positions(**kwargs)


def test_bad_types() -> None:
    with pytest.raises(TypeError, match="size must be a real number"):
        lq.Positions("1", 100.0, 1.0)
    with pytest.raises(TypeError, match="margin must be a real number or an array of real numbers"):
        lq.Positions([1.0], [100.0], ["a"])
    with pytest.raises(TypeError, match="account must be an integer"):
        lq.Positions([1.0], [100.0], [1.0], account=["x"])


def test_selection() -> None:
    pos = lq.Positions(
        [1.0, -2.0, 3.0, -4.0], [10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0], account=[0, 1, 2, 3]
    )
    assert pos[1:3].size.tolist() == [-2.0, 3.0]
    assert pos[-1].entry_price.tolist() == [40.0]
    assert pos[pos.size > 0].account.tolist() == [0, 2]  # type: ignore[union-attr]
    assert pos.take([3, 0]).margin.tolist() == [4.0, 1.0]
    assert pos[np.array([2])].size.tolist() == [3.0]
    with pytest.raises(IndexError, match="position index 4 is out of range for 4 positions"):
        pos[4]
    with pytest.raises(IndexError, match=r"indices\[1\] is out of range for 4 positions \(got 9\)"):
        pos.take([0, 9])
    with pytest.raises(ValueError, match=r"boolean mask has shape \(2,\), expected \(4,\)"):
        pos[np.array([True, False])]
    with pytest.raises(TypeError, match="indices must be integers"):
        pos.take([0.5])


def test_frames_and_pickle() -> None:
    pos = lq.Positions([1.0, -2.0], [10.0, 20.0], [1.0, 2.0], account=[3, 4])
    back = pickle.loads(pickle.dumps(pos))
    assert back == pos
    assert back is not pos
    assert (
        lq.Positions.from_frame(
            {
                "size": [1.0, -2.0],
                "entry_price": [10.0, 20.0],
                "margin": [1.0, 2.0],
                "account": [3, 4],
            }
        )
        == pos
    )
    with pytest.raises(ValueError, match="frame is missing column\\(s\\) 'margin'"):
        lq.Positions.from_frame({"size": [1.0], "entry_price": [1.0]})
    with pytest.raises(TypeError, match="frame must be a DataFrame or a mapping"):
        lq.Positions.from_frame([1.0, 2.0])
    pytest.importorskip("pandas")
    df = pos.to_frame()
    assert list(df.columns) == ["size", "entry_price", "margin", "account"]
    assert lq.Positions.from_frame(df) == pos
    assert pos != lq.Positions([1.0, -2.0], [10.0, 20.0], [1.0, 2.0])
