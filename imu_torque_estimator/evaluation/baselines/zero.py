"""Zero moment: the trivial floor every estimator has to beat (what an unassisted controller outputs)."""

from __future__ import annotations

import numpy as np

from ...body import JOINTS
from .base import Baseline, EvalRecording, Prediction, register


@register
class Zero(Baseline):
    name = "zero"
    label = "zero"

    def predict(self, rec: EvalRecording) -> Prediction:
        return Prediction(np.zeros((len(rec), len(JOINTS))))
