"""Learning-rate schedules: warmup, cosine and warmup-stable-decay shapes."""

from __future__ import annotations

import pytest

from warc2gpt.train.schedule import lr_factor


def test_cosine_warms_up_then_decays_to_min():
    f = [lr_factor(s, 100, 10, "cosine", min_ratio=0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))


def test_wsd_is_flat_then_linear_decay():
    f = [lr_factor(s, 100, 5, "wsd", decay_frac=0.2, min_ratio=0.0) for s in range(100)]
    assert f[5:80] == [1.0] * 75
    assert f[-1] == pytest.approx(0.0)
    assert f[90] == pytest.approx(1 - 11 / 20)


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="expected cosine or wsd"):
        lr_factor(50, 100, 0, "linear")
