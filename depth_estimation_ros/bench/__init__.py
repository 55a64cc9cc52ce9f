"""The benchmark's machinery: inputs, clocks, stage and whole-frame timing, comparisons, report.

``python -m depth_estimation_ros.benchmark`` is the command over it. One module per job:
``timing`` (clock, repeats, summaries), ``inputs`` (frames, clouds, CDR bytes), ``models``
(checkpoints and FLOPs), ``stages`` (the node's stages, listed once in ``STAGES``, and the
whole-frame paths), ``measure`` (one variant on one device), ``packing`` (cloud packing and
DDS encoding against the naive ways), ``dds_write`` (a cloud over loopback), ``ablation``,
``standins`` (scan, ranges, colour), ``machine`` (what it ran on) and ``report`` (Markdown).
"""
