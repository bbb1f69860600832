"""Frame interpolation backends (`interpolate=flow|rife`): the video at 2 or 4 times its rate,
never blended across a hard cut."""

from stages.interpolate.flow import FlowInterpolator
from stages.interpolate.stream import FACTORS, Interpolator, output_frames

__all__ = ["FACTORS", "FlowInterpolator", "Interpolator", "output_frames"]
