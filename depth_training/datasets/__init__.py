"""Where training and evaluation images come from: one module per data source, plus the
splits, the augmentation, the torch Dataset and building them from a config.

- :mod:`.source`: the depth-source protocol (indexed RGB + metric depth, optional camera).
- :mod:`.nyu`: the NYUv2 labelled ``.mat`` (HDF5); :mod:`.synthetic`: rendered scenes.
- Own-camera RGB-D recordings: :mod:`.recording` (what they share), :mod:`.rosbag`,
  :mod:`.tum`, :mod:`.folder`, :mod:`.seven_scenes` (7-Scenes / 3DMatch), and :mod:`.rgbd`
  (the kinds and opening one by kind); :mod:`.frame_cache` (a source's frames decoded once,
  at network resolution, for every epoch).
- :mod:`.splits` (official / random / contiguous), :mod:`.augment`, :mod:`.dataset` (the
  torch Dataset) and :mod:`.build` (datasets from a training config).
"""
