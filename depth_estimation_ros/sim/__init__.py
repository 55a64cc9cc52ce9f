"""The procedural indoor-scene renderer (exact metric depth), for tests, the synthetic camera
and synthetic training data. May import ``core``; no ROS.
"""

from depth_estimation_ros.sim.render import SyntheticFrame, SyntheticScene, render_scene

__all__ = ["SyntheticFrame", "SyntheticScene", "render_scene"]
