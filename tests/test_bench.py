"""``mrsisr bench`` and its measuring tools: statistics, interleaving, FLOPs, JSON schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mrsisr.benchmarking.measure import count_flops, interleaved_times, paired_ratio, summarise
from mrsisr.benchmarking.suite import to_markdown
from mrsisr.cli import main


def test_summary_statistics_match_numpy() -> None:
    seconds = [0.010, 0.030, 0.020, 0.050, 0.040, 0.012]
    stats = summarise(seconds, per=2)
    ms = np.asarray(seconds) * 1000 / 2
    assert stats.median_ms == pytest.approx(np.median(ms))
    assert stats.q1_ms == pytest.approx(np.percentile(ms, 25))
    assert stats.q3_ms == pytest.approx(np.percentile(ms, 75))
    assert (stats.min_ms, stats.max_ms, stats.repeats) == (pytest.approx(5.0), 25.0, 6)
    assert paired_ratio([2.0, 6.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least one"):
        summarise([])


def test_interleaving_rotates_the_order_and_times_every_call() -> None:
    order: list[str] = []
    calls = {name: (lambda name=name: order.append(name)) for name in "abc"}
    times = interleaved_times(calls, repeats=3, warmup=1)
    assert order == list("abc" + "abc" + "bca" + "cab")
    for clock in (times.wall, times.cpu):
        assert {k: len(v) for k, v in clock.items()} == {"a": 3, "b": 3, "c": 3}
        assert all(t >= 0 for v in clock.values() for t in v)


@pytest.mark.slow
def test_flop_count_matches_the_analytic_count() -> None:
    x = torch.randn(3, 5, 17, 19, requires_grad=True)
    w = torch.randn(7, 5, 3, 3, requires_grad=True)
    forward = 2 * 3 * 7 * 5 * 9 * 17 * 19
    with torch.inference_mode():
        assert count_flops(lambda: F.conv2d(x, w, padding=1)) == forward
    # Backward: the gradients of the input and of the weight cost one forward each.
    assert count_flops(lambda: F.conv2d(x, w, padding=1).sum().backward()) == 3 * forward
    # A grouped convolution (the per-sample kernels of the fast path): 1/groups of the work.
    xg, wg = torch.randn(1, 6, 8, 8, requires_grad=True), torch.randn(9, 2, 3, 3)
    grouped = 2 * 9 * 2 * 9 * 8 * 8
    assert count_flops(lambda: F.conv2d(xg, wg, padding=1, groups=3).sum().backward()) == (
        2 * grouped
    )  # input gradient only: the weight needs none
    a, b = torch.randn(6, 11), torch.randn(11, 4)
    assert count_flops(lambda: a @ b) == 2 * 6 * 11 * 4


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "out.json"
    argv = ["bench", "--quick", "--repeats", "2", "--warmup", "0", "--grid", "32", "--batch", "2"]
    argv += ["--workloads", "train", "infer_b32", "--cases", "loop", "fast", "--json", str(out)]
    assert main(argv) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_quick_json_has_the_headline_medians_and_the_context(quick_result) -> None:
    for key in ("train_step_ms", "infer_ms_per_map_b32"):
        assert set(quick_result[key]) == {"plain", "loop", "fast"}
        assert all(isinstance(v, float) and v > 0 for v in quick_result[key].values())
    assert quick_result["gan_step_ms"] == {}  # not asked for
    assert quick_result["infer_ms_per_map_b1"] is None
    assert quick_result["ceiling_gflops"] > 0
    assert quick_result["threads"]["torch_threads"] == 1
    assert quick_result["settings"]["repeats"] == 2 and quick_result["settings"]["extra"]["quick"]
    assert quick_result["torch"] == torch.__version__ and quick_result["date"]
    for rows in quick_result["workloads"].values():
        for row in rows.values():
            assert row["q1_ms"] <= row["median_ms"] <= row["q3_ms"] <= row["max_ms"]
            assert row["cpu_q1_ms"] <= row["cpu_median_ms"] <= row["cpu_q3_ms"]
            assert row["gflop"] > 0 and 0 < row["fraction_of_ceiling"]
            assert row["peak_rss_mb"] > 0 and row["footprint_mb"] > 0
        assert rows["plain"]["ratio_to_plain"] == pytest.approx(1.0)
        assert rows["plain"]["cpu_ratio_to_plain"] == pytest.approx(1.0)
    train = quick_result["workloads"]["train"]
    # The conditioned model does strictly more arithmetic than the plain one.
    assert train["fast"]["gflop"] > train["plain"]["gflop"]
    # Only the targets whose two cases ran (loop_conv did not).
    assert set(quick_result["targets"]) == {
        "train_fast_vs_plain",
        "train_loop_vs_fast",
        "infer_b32_fast_vs_plain",
    }


@pytest.mark.slow
def test_markdown_has_one_row_per_workload(quick_result) -> None:
    text = to_markdown(quick_result)
    assert quick_result["date"] in text
    for label in ("training step", "batch 32"):
        assert sum(label in line for line in text.splitlines()) == 3  # wall, CPU, efficiency


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "40"], "--grid 40"),
        (["--repeats", "0"], "--repeats 0"),
        (["--threads", "0"], "--threads 0"),
        (["--workloads", "train", "warp"], "--workloads warp"),
        (["--cases", "turbo"], "--cases turbo"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_no_file(extra, message, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["bench", "--quick", "--json", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_missing_output_folder_is_refused_before_measuring(tmp_path, capsys) -> None:
    assert main(["bench", "--quick", "--json", str(tmp_path / "no" / "out.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
