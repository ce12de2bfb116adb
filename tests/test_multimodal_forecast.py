"""Topic 9's forecast calculator (apps/multimodal/forecast.py): gain = exposure x adoption x saving, by Monte Carlo."""
from __future__ import annotations

import numpy as np
import pytest

from apps.multimodal import forecast as fc
from apps.multimodal import forecast_figure, forecast_summary, forecast_ui


def ranges(exposure=(15, 25), adoption=(15, 35), saving=(10, 20)):
    return {"exposure": fc.Range(*exposure), "adoption": fc.Range(*adoption), "saving": fc.Range(*saving)}


def test_known_inputs_give_their_product_exactly():
    result = fc.simulate(ranges((19.9, 19.9), (23, 23), (14.4, 14.4)), draws=1_000)
    assert result.gains_pct.shape == (1_000,)
    assert result.median_pct == pytest.approx(0.199 * 0.23 * 0.144 * 100)  # Acemoglu 2024's 0.66%
    assert result.low_pct == pytest.approx(result.high_pct)


def test_every_draw_lies_between_the_products_of_the_range_ends():
    result = fc.simulate(ranges(), draws=5_000)
    assert result.gains_pct.min() >= 0.15 * 0.15 * 0.10 * 100 - 1e-9
    assert result.gains_pct.max() <= 0.25 * 0.35 * 0.20 * 100 + 1e-9
    assert result.low_pct < result.median_pct < result.high_pct


def test_the_same_seed_gives_the_same_draws_and_another_seed_others():
    a, b, c = (fc.simulate(ranges(), draws=2_000, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.gains_pct, b.gains_pct)
    assert not np.array_equal(a.gains_pct, c.gains_pct)


def test_a_wider_input_range_widens_the_interval_and_takes_its_share_of_the_uncertainty():
    narrow = fc.simulate(ranges())
    wide = fc.simulate(ranges(adoption=(5, 90)))
    assert wide.high_pct / wide.low_pct > narrow.high_pct / narrow.low_pct
    assert max(wide.variance_shares, key=wide.variance_shares.get) == "adoption"
    assert sum(wide.variance_shares.values()) == pytest.approx(1.0)


def test_the_presets_land_near_the_headlines_they_stand_for():
    medians = {name: fc.simulate(r).median_pct for name, r in fc.PRESETS.items()}
    assert medians["Acemoglu 2024 (modest)"] == pytest.approx(0.66, rel=0.15)
    assert medians["Goldman Sachs 2023 (optimistic)"] == pytest.approx(7.0, rel=0.15)


def test_a_low_end_above_the_high_end_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="low exposure .* is above the high one"):
        fc.check_range("exposure", 30, 20)
    with pytest.raises(ValueError, match="between 0.1 and 100"):
        fc.check_range("saving", 0, 20)


def test_the_ui_shows_a_figure_and_a_summary_and_refuses_bad_input_with_gradio_error():
    import gradio as gr

    figure, summary = forecast_ui(15, 25, 15, 35, 10, 20, 0)
    assert figure.axes and "median" in summary and "90% of draws" in summary
    with pytest.raises(gr.Error, match="swap them"):
        forecast_ui(25, 15, 15, 35, 10, 20, 0)


def test_the_figure_and_summary_describe_the_result():
    result = fc.simulate(ranges(), draws=1_000)
    assert forecast_figure(result).axes[0].get_xscale() == "log"
    assert f"{result.median_pct:.2g}%" in forecast_summary(result)
