"""Units and sensor constants shared by ``synth`` and ``recam`` (REFERENCE §1)."""

from __future__ import annotations

__all__ = ["SENSOR_MM", "CM_PER_M"]

#: Sensor size of the MultiCamVideo cameras (square), millimetres. REFERENCE §1.
SENSOR_MM = 23.76

#: Unreal works in centimetres, everything else here in metres.
CM_PER_M = 100.0
