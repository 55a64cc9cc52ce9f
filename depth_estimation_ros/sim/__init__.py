"""The procedural indoor-scene renderer (exact metric depth), for tests, the synthetic camera
and synthetic training data. May import ``core``; no ROS.

Modules: ``scene`` (the API: :class:`SyntheticScene`, :func:`render_scene`), ``camera``
(poses, pixel rays), ``materials`` (materials, procedural textures, and photographs of real
surfaces: :class:`PhotoTextures`), ``geometry`` (boxes and room as planar faces), ``raster``
(z-buffer), ``shading`` (lighting, texturing), ``furniture`` (pieces as boxes), ``layout``
(random furnished rooms), ``frames`` (the synthetic camera's frame source: rendered and
encoded ahead of the publisher).
"""

from depth_estimation_ros.sim.materials import PhotoTextures
from depth_estimation_ros.sim.scene import SyntheticFrame, SyntheticScene, render_scene

__all__ = ["PhotoTextures", "SyntheticFrame", "SyntheticScene", "render_scene"]
