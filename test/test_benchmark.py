"""Benchmark CLI on tiny settings: every stage timed, report complete, packing comparison."""

import json
import math

import numpy as np
import pytest
import torch

from depth_estimation_ros.bench.dds_write import measure_dds_write
from depth_estimation_ros.bench.inputs import sample_frame
from depth_estimation_ros.bench.models import network_cost
from depth_estimation_ros.bench.packing import compare_encoding, compare_packing, struct_pack_cloud
from depth_estimation_ros.bench.stages import HOST_STAGES, STAGES
from depth_estimation_ros.benchmark import main
from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.pointcloud import pack_cloud

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    argv = ["--variants", "compact", "--devices", "cpu", "--iterations", "2", "--warmup", "0",
            "--ablation", "--no-packing", "--json", str(out / "r.json"), "--markdown",
            str(out / "r.md")]
    assert main(argv) == 0
    return json.loads((out / "r.json").read_text()), (out / "r.md").read_text()


def _is_time(stats):
    return (stats["n"] == 2 and 0.0 < stats["p50_ms"] <= stats["p99_ms"]
            and math.isfinite(stats["p99_ms"]))


def test_every_stage_has_p50_and_p99(report):
    data, _ = report
    (result,) = data["results"]
    assert (result["variant"], result["device"], result["batch"]) == ("compact", "cpu", 1)
    assert list(result["stages"]) == list(STAGES + HOST_STAGES)
    for name, stats in result["stages"].items():
        assert _is_time(stats), name
    for key in ("end_to_end", "fast_path", "ready", "pipeline", "network"):
        assert _is_time(result[key]) and result[key]["frames_per_s"] > 0.0, key
    assert 0.0 < result["non_network_share"] < 1.0
    assert result["pipeline_non_network_share"] < 1.0
    node_sum = sum(result["stages"][s]["p50_ms"] for s in STAGES)  # host stages not counted
    assert result["stages_p50_sum_ms"] == pytest.approx(node_sum)
    # the network dominates a frame even on a CPU
    assert result["stages"]["inference"]["p50_ms"] == max(
        s["p50_ms"] for s in result["stages"].values())


def test_report_describes_machine_and_model(report):
    data, table = report
    machine = data["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch"] == torch.__version__
    result = data["results"][0]
    assert 2.5e6 < result["parameters"] < 3.5e6 and 5.0 < result["gflop"] < 10.0
    assert result["cloud"] == {"colour": True, "decimation": 1}
    assert "| inference |" in table and "**end_to_end**" in table


def test_cpu_ablation_rows(report):
    data, table = report
    steps = [row["step"] for row in data["ablation"]]
    assert steps[0].startswith("fp32 eager") and "+ channels_last" in steps
    assert "+ bfloat16 (CPU)" in steps
    assert not any("fp16" in s or "CUDA graphs" in s for s in steps)  # CUDA-only rows
    assert data["ablation"][0]["model_speedup"] == 1.0
    assert steps[-1].startswith("+ cloud records on the device")
    for row in data["ablation"]:
        assert _is_time(row["model"]) and _is_time(row["frame"])
    assert "Ablation" in table


def test_struct_pack_loop_writes_the_same_bytes():
    rgb = sample_frame(8, 6)
    depth = np.linspace(0.5, 3.0, 48, dtype=np.float32).reshape(6, 8)
    depth[2, 3] = np.nan
    xyz = backproject(depth, CameraIntrinsics(5.0, 5.0, 4.0, 3.0, 8, 6))
    assert struct_pack_cloud(xyz, rgb) == bytes(pack_cloud(xyz, rgb).data)
    assert struct_pack_cloud(xyz, None) == bytes(pack_cloud(xyz).data)


def test_packing_comparison_full_cloud():
    result = compare_packing(colour=True, repeats=2, loop_repeats=1)
    assert result["points"] == 640 * 480 and result["identical_bytes"]
    assert result["ratio_p50"] > 5.0  # vectorised packing beats a Python loop by far


def test_batch_stages_use_the_batch_api_and_host_cloud(tmp_path):
    out = tmp_path / "b2.json"
    argv = ["--variants", "compact", "--devices", "cpu", "--iterations", "1", "--warmup", "0",
            "--batch", "2", "--no-packing", "--decimation", "2", "--json", str(out)]
    assert main(argv) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["batch"] == 2 and "fast_path" not in result
    assert "download" not in result["stages"]  # inside postprocess for the batch API
    assert {"preprocess", "inference", "postprocess", "backproject", "pack",
            "serialize"} <= set(result["stages"])


def test_encoding_comparison_full_cloud():
    result = compare_encoding(colour=True, repeats=2)
    assert result["identical_bytes"] and result["bytes"] > 640 * 480 * 32
    assert result["payload_encoder"]["n"] == result["stock_serialize"]["n"] == 2


def test_dds_write_reaches_a_subscriber_process_without_copying_the_cloud():
    result = measure_dds_write(repeats=3, colour=False)
    assert result["bytes"] == 640 * 480 * 16 and result["publish"]["n"] == 3
    assert result["in_place_writes"] == 3 + 3  # warm-up writes included: none was copied
    assert 0.0 < result["publish"]["p50_ms"]


def test_flop_count_of_the_paper_network():
    cost = network_cost("eigen_vgg16")  # counted on the meta device: instant
    assert 210e6 < cost["parameters"] < 225e6
    assert 50.0 < cost["gflop"] < 60.0
    assert cost["gflop_scale1"] > cost["gflop_scale2"] + cost["gflop_scale3"]


@pytest.mark.parametrize("argv", [["--variants", "resnet"], ["--iterations", "0"],
                                  ["--devices", "tpu"]])
def test_bad_arguments_exit_2(argv, capsys):
    assert main(argv + ["--no-packing"]) == 2
    assert "error:" in capsys.readouterr().err


def test_stand_in_sensor_stages_are_timed(report, tmp_path):
    data, table = report
    stand = data["standins"]
    assert (stand["width"], stand["height"], stand["sectors"]) == (640, 480, 3)
    for name in ("scan", "ranges", "color", "standins"):
        assert stand[name]["n"] >= 100 and 0.0 < stand[name]["p50_ms"] <= stand[name]["p99_ms"]
    # all three in a row cost at least the dearest of them
    assert stand["standins"]["min_ms"] >= max(stand[k]["min_ms"] for k in ("scan", "color"))
    assert "Stand-in sensors on a 640×480 depth image" in table
    out = tmp_path / "s.json"
    assert main(["--standins-only", "--iterations", "1", "--warmup", "0", "--json",
                 str(out)]) == 0
    only = json.loads(out.read_text())
    assert "results" not in only and "packing" not in only and "standins" in only


def test_filter_stages_are_timed_beside_the_others(report):
    from depth_estimation_ros.node.filter_cost import FILTER_STAGES

    data, table = report
    filters = data["filters"]
    assert list(filters) == list(FILTER_STAGES)
    for name, stats in filters.items():
        assert 0.0 < stats["p50_ms"] <= stats["p90_ms"], name
        assert f"| {name} | {stats['p50_ms']:.2f} |" in table
    # all three filters in a row cost at least the dearest single one (min over runs noisy,
    # so compare with slack)
    assert filters["all filters"]["p50_ms"] >= 0.5 * max(
        filters[k]["p50_ms"] for k in ("edge filter", "temporal filter", "scale stabiliser"))
    assert "Depth filters and the voxel cloud" in table
