"""Liveness (anti-spoofing): refuse photos and screens held up to the terminal.

`cues`: scale vs TOF distance, planarity of the landmark tracks; `texture`: periodic patterns
(a screen's moiré) in the face region; `parallax`: the nose moving off the plane of the rest of the
face between frames (a head's depth); `context`: a held picture's border moving with the face;
`decision`: the per-track state
(`LivenessMonitor` for a pipeline); `synth`: seedable synthetic attacks and live heads;
`headrender`: rendered live heads (a face photo on a 3D face surface, the flat control);
`audit`: the snapshot and audit entry of a refused attempt.
"""

from .camera import CameraModel, calibrate_focal_px
from .decision import CHECKING, LEVELS, LIVE, OFF, SPOOF, LivenessMonitor, LivenessPolicy, LivenessResult, TrackLiveness

__all__ = ["CHECKING", "LEVELS", "LIVE", "OFF", "SPOOF", "CameraModel", "LivenessMonitor", "LivenessPolicy",
           "LivenessResult", "TrackLiveness", "calibrate_focal_px"]
