"""Model tags (模型标签): customer lifetime value with buy-till-you-die models.

BG/NBD (Fader, Hardie and Lee 2005) from each buyer's repeat purchases, their recency and
age; Gamma-Gamma for the value of a purchase; both fitted with the `lifetimes` library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from zhongtai.data.tags.model import ModelParams, deciles


@dataclass(frozen=True)
class Fitted:
    persons: list[int]
    values: list[str]
    parameters: dict[str, float]


def fit(summary: pa.Table, params: ModelParams) -> Fitted:
    """Deciles of the chosen measure for every buyer in `summary` (person, frequency,
    recency, T in days, monetary in cents), with the fitted parameters."""
    from lifetimes import BetaGeoFitter  # slow to import: on first use

    columns: dict[str, Any] = {c: summary.column(c).to_numpy() for c in summary.column_names}
    frequency, recency, age = columns["frequency"], columns["recency"], columns["T"]
    bgnbd = BetaGeoFitter(penalizer_coef=0.001)
    bgnbd.fit(frequency, recency, age)
    fitted = {f"bgnbd_{k}": float(v) for k, v in bgnbd.params_.items()}
    if params.measure == "alive":
        score = bgnbd.conditional_probability_alive(frequency, recency, age)
    else:
        purchases = bgnbd.conditional_expected_number_of_purchases_up_to_time(
            params.horizon_days, frequency, recency, age
        )
        value, gamma = _value(frequency, columns["monetary"])
        fitted.update(gamma)
        score = purchases * value
    persons = [int(p) for p in columns["person"]]
    ranks = deciles([float(x) for x in np.asarray(score)])
    return Fitted(persons, [str(r) for r in ranks], fitted)


def _value(frequency: Any, monetary: Any) -> tuple[Any, dict[str, float]]:
    """Expected value of a purchase per buyer: Gamma-Gamma fitted on repeat buyers (for a
    buyer with none it gives the population's mean)."""
    from lifetimes import GammaGammaFitter

    repeat = (frequency > 0) & (monetary > 0)
    if repeat.sum() < 10:  # too few to fit: everyone gets the plain average
        mean = float(monetary[repeat].mean()) if repeat.any() else 0.0
        return np.full(len(frequency), mean), {}
    gamma = GammaGammaFitter(penalizer_coef=0.001)
    gamma.fit(frequency[repeat], monetary[repeat])
    value = np.asarray(gamma.conditional_expected_average_profit(frequency, monetary), dtype=float)
    return value, {f"gamma_{k}": float(v) for k, v in gamma.params_.items()}
