"""ament_python package that also installs with plain pip (no ROS needed)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_estimation_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Monocular metric depth for ROS 2 (Eigen & Fergus 2015 multi-scale CNN), "
                "with NYUv2 training and a DDS-native runtime",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*", "depth_training",
                                    "depth_training.*"]),
    package_data={
        PACKAGE: ["weights/*.pt", "config/*.xml", "config/*.yaml"],
        "depth_training": ["resources/*.txt", "configs/*.yaml"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")
         + glob("config/*.xml")),
    ],
    python_requires=">=3.10",
    # torch is pinned by the README/CI commands (torch==2.13.0, CPU build) before this
    # installs; a range here keeps pip from pulling another build when one is present.
    install_requires=[
        "numpy>=1.24",
        "torch>=2.1",
        "pyyaml>=6",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "pillow>=9",
        "h5py>=3.8",
        "opencv-python-headless>=4.8,<5",  # <5: opencv 5 type codes break cv_bridge
        "cyclonedds==11.0.1",
        "rosbags>=0.11,<0.12",
    ],
    extras_require={
        # launch_testing's pytest plugin breaks under pytest 9
        "test": ["pytest>=7,<9", "onnx>=1.15", "onnxruntime>=1.17", "ruff"],
        "export": ["onnx>=1.15", "onnxruntime>=1.17"],
        "train": ["tensorboard>=2.12"],
    },
    tests_require=["pytest"],
    zip_safe=True,
    maintainer="depth_estimation_ros maintainers",
    maintainer_email="maintainers@depth-estimation-ros.dev",
    license="BSD-3-Clause",
    entry_points={
        "console_scripts": [
            f"depth_estimation_node = {PACKAGE}.ros.node:main",
            f"depth_estimation_lifecycle_node = {PACKAGE}.ros.lifecycle_node:main",
            f"depth_estimation_standalone = {PACKAGE}.standalone:main",
            f"synthetic_camera = {PACKAGE}.synthetic_camera:main",
            f"depth_record = {PACKAGE}.record:main",
            f"depth_bag = {PACKAGE}.bag:main",
            f"depth_estimate = {PACKAGE}.estimate:main",
            f"depth_benchmark = {PACKAGE}.benchmark:main",
            f"depth_export = {PACKAGE}.export:main",
        ],
    },
)
