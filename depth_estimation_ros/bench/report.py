"""Format a benchmark report as Markdown tables: stages, summary, packing, encoding, DDS
write, stand-ins and ablation.
"""

from __future__ import annotations

from typing import Any

from depth_estimation_ros.bench.stages import HOST_STAGES, NETWORK_STAGE, STAGES


def _fmt(stats: dict[str, float] | None) -> str:
    return "—" if stats is None else f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f}"


def _ratio_table(title: str, fast: tuple[str, dict], slow: tuple[str, dict],
                 result: dict[str, Any]) -> list[str]:
    """Lines of a side-by-side comparison: fast and slow p50 / p99, ratio, same bytes."""
    return ["", f"{title}, p50 / p99 ms:", "",
            f"| {fast[0]} | {slow[0]} | ratio (p50) | identical bytes |", "|---|---|---|---|",
            f"| {_fmt(fast[1])} | {_fmt(slow[1])} | {result['ratio_p50']:.0f}× | "
            f"{result['identical_bytes']} |"]


def markdown(report: dict[str, Any]) -> str:
    """Markdown tables of a report (stages, summary, packing, ablation)."""
    results = report.get("results", [])
    lines: list[str] = []
    if results:
        heads = [f"{r['variant']} {r['device']} b{r['batch']}" for r in results]
        lines += ["Per stage, p50 / p99 ms (per batch):", "",
                  "| stage | " + " | ".join(heads) + " |",
                  "|---" * (len(heads) + 1) + "|"]
        for stage in STAGES + HOST_STAGES:
            lines.append(f"| {stage} | " + " | ".join(_fmt(r["stages"].get(stage))
                                                      for r in results) + " |")
        for key in ("end_to_end", "fast_path", "ready", "pipeline", "network"):
            lines.append(f"| **{key}** | " + " | ".join(_fmt(r.get(key)) for r in results)
                         + " |")
        lines += ["", "| variant | device | precision | batch | GFLOP | params (M) | model p50 "
                  "ms | end-to-end p50 ms | frames/s | fast path frames/s | non-network share "
                  "(stages / pipeline) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            fast = r.get("fast_path", {}).get("frames_per_s")
            share = r.get("pipeline_non_network_share")
            lines.append(
                f"| {r['variant']} | {r['device']} ({r['device_name']}) | {r['precision']}"
                f"{' + graphs' if r['cuda_graphs'] else ''} | {r['batch']} | {r['gflop']:.1f} | "
                f"{r['parameters'] / 1e6:.1f} | {r['stages'][NETWORK_STAGE]['p50_ms']:.2f} | "
                f"{r['end_to_end']['p50_ms']:.2f} | {r['end_to_end']['frames_per_s']:.1f} | "
                f"{'—' if fast is None else f'{fast:.1f}'} | "
                f"{100 * r['non_network_share']:.1f} % / "
                f"{'—' if share is None else f'{100 * share:.1f} %'} |")
    pack = report.get("packing")
    if pack:
        lines += _ratio_table(
            f"Cloud packing, {pack['points']} points{' with colour' if pack['colour'] else ''}"
            f" ({pack['point_step']} B each)", ("pack_cloud", pack["pack_cloud"]),
            ("per-point struct.pack loop", pack["struct_pack_loop"]), pack)
    enc = report.get("encoding")
    if enc:
        lines += _ratio_table(
            f"DDS encoding of that cloud's PointCloud2 ({enc['bytes']} B)",
            ("PayloadEncoder", enc["payload_encoder"]),
            ("cyclonedds serialize + pad", enc["stock_serialize"]), enc)
    write = report.get("dds_write")
    if write:
        lines += ["", f"DDS write of a 640×480 cloud ({write['bytes']} B payload) to one "
                  f"subscriber process over loopback, {write['qos']}, p50 / p99 ms: "
                  f"{_fmt(write['publish'])} ({write['in_place_writes']} of "
                  f"{write['publish']['n'] + 3} encoded in place)"]
    stand = report.get("standins")
    if stand:
        lines += ["", f"Stand-in sensors on a {stand['width']}×{stand['height']} depth image "
                  f"(host, {stand['sectors']} range sectors of {stand['field_of_view']} rad, "
                  f"scan band {stand['scan_height']} row(s)), p50 / p99 ms:", "",
                  "| scan | ranges | color | all three |", "|---|---|---|---|",
                  "| " + " | ".join(_fmt(stand[k]) for k in ("scan", "ranges", "color",
                                                             "standins")) + " |"]
    filters = report.get("filters")
    if filters:
        lines += ["", "Depth filters and the voxel cloud on a 640×480 depth map (host, as the "
                  "node runs them), p50 / p90 ms:", "", "| stage | p50 | p90 |", "|---|---|---|"]
        lines += [f"| {name} | {st['p50_ms']:.2f} | {st['p90_ms']:.2f} |"
                  for name, st in filters.items()]
    rows = report.get("ablation")
    if rows:
        lines += ["", "Ablation (cumulative), p50 / p99 ms:", "",
                  "| variant | device | step | model | speed-up | frame → depth + cloud | "
                  "speed-up |", "|---|---|---|---|---|---|---|"]
        for row in rows:
            lines.append(f"| {row['variant']} | {row['device']} | {row['step']} | "
                         f"{_fmt(row['model'])} | {row['model_speedup']:.2f}× | "
                         f"{_fmt(row['frame'])} | {row['frame_speedup']:.2f}× |")
    return "\n".join(lines) + "\n"
