"""Fig. 2 from tidy tables: every panel drawn from the genetic perturbation runs' metrics and artifacts, an
explicit n/a where a method cannot be scored, the heatmap's choice of the largest errors, clear errors when a
run lacks an artifact the figure draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from sclong.errors import InputError
from sclong.figures import get_figure
from sclong.figures.fig2 import HEATMAP_GENES, largest_errors
from sclong.figures.fig2 import draw as draw_fig2
from sclong.figures.make import read_tables
from sclong.stats import main as make_stats
from tests.figures.test_figures import REPORTED, STATS, draw
from tests.tidy import write_run

TASK = "genetic_perturbation"
SCENARIOS = ("seen_0_2", "seen_1_2", "seen_2_2", "seen_0_1")
# method -> (Pearson on the DE genes, MSE on the DE genes, GI magnitude noise)
CENTRES = {"sclong": (0.8, 0.15, 0.1), "gears": (0.7, 0.2, 0.3), "additive": (0.5, 0.3, 0.5),
           "no_change": (0.0, 0.5, 1.0), "wo_go": (0.75, 0.17, 0.2)}  # fmt: skip
GENES = [f"G{i:03d}" for i in range(120)]


def perturbation_run(root: Path, method: str, seed: int, skip: tuple[str, ...] = ()) -> Path:
    """One run's metrics (additive not applicable on Seen 0/1) and the artifacts the task writes."""
    rng = np.random.default_rng(100 * seed + len(method))
    pearson, mse, noise = CENTRES[method]
    values: dict[tuple[str, str], float | None] = {}
    for scenario in SCENARIOS:
        applicable = not (method == "additive" and scenario == "seen_0_1")
        for metric, centre in (("pearson_delta_de", pearson), ("mse_de", mse), ("pearson", 0.98)):
            values[(scenario, metric)] = centre + rng.normal(0, 0.02) if applicable else None
    doubles = [f"G{a:03d}+G{a + 1:03d}" for a in range(0, 30, 2)]
    true = rng.gamma(4, 0.25, len(doubles))
    pred = true + rng.normal(0, noise, len(doubles))
    values[("all", "gi_magnitude_pearson")] = float(np.corrcoef(true, pred)[0, 1])
    values[("all", "gi_synergy_overlap")] = float(rng.integers(3, 12))
    values[("all", "gi_suppressor_overlap")] = float(rng.integers(3, 12))
    errors = pd.DataFrame([(c, g, abs(rng.normal(0, 0.2 + 0.02 * i))) for i, c in enumerate(doubles) for g in GENES],
                          columns=["condition", "gene", "abs_error"])  # fmt: skip
    artifacts = {
        "split": pd.DataFrame({"condition": ["ctrl", *doubles], "subset": ["train"] + ["test"] * len(doubles),
                               "scenario": [""] + ["seen_2_2"] * len(doubles)}),
        "gi": pd.DataFrame({"condition": doubles, "magnitude_true": true, "magnitude_pred": pred}),
        "double_errors": errors,
    }  # fmt: skip
    kept = {name: table for name, table in artifacts.items() if name not in skip}
    return write_run(root, TASK, method, seed, values, artifacts=kept)


def perturbation_runs(root: Path, skip: dict[str, tuple[str, ...]] | None = None) -> list[Path]:
    """Three seeds of the figure's methods and of one model variant (which Fig. 2 leaves to Fig. 7)."""
    return [perturbation_run(root, method, seed, (skip or {}).get(f"{method}/seed{seed}", ()))
            for method in CENTRES for seed in range(3)]  # fmt: skip


def test_fig2_builds_with_every_comparison_in_its_statistics(tmp_path: Path) -> None:
    paths = perturbation_runs(tmp_path / "runs")
    shown = [p for p in paths if p.parts[-3] != "wo_go"]  # figure_runs gives a "main" figure no variant
    pdf, png = draw(tmp_path, "fig2", shown)
    assert pdf.read_bytes().startswith(b"%PDF") and png.stat().st_size > 50_000
    assert b"/Subtype /Image" in pdf.read_bytes()  # the heatmap's cell mesh rasterised, the rest vector
    stats = pd.read_csv(
        tmp_path / "fig2.tsv", sep="\t", keep_default_na=False, na_values={"p_value": [""], "p_adjusted": [""]}
    )
    compared = set(zip(stats["scenario"], stats["metric"], stats["method"], strict=True))
    expected = {(s, m, method) for s in SCENARIOS for m in ("pearson_delta_de", "mse_de", "pearson")
                for method in ("gears", "additive", "no_change")}  # fmt: skip
    expected |= {("all", m, method) for m in ("gi_magnitude_pearson", "gi_synergy_overlap", "gi_suppressor_overlap")
                 for method in ("gears", "additive", "no_change")}  # fmt: skip
    assert compared == expected
    na = stats[(stats["method"] == "additive") & (stats["scenario"] == "seen_0_1")]
    assert na["p_value"].isna().all() and na["note"].str.startswith("not applicable").all()
    assert (na["significance"] == "").all() and (na["n_method"] == 0).all()
    tested = stats[stats["p_value"].notna()]
    assert len(tested) == len(stats) - len(na) and tested["p_adjusted"].between(0, 1).all()


def test_not_applicable_is_an_explicit_na_not_a_zero_bar(tmp_path: Path) -> None:
    paths = perturbation_runs(tmp_path / "runs")
    shown = [p for p in paths if p.parts[-3] != "wo_go"]
    argv = ["--figure", "fig2", "--metrics", *map(str, shown), "--settings", STATS, "--out", str(tmp_path / "fig2.tsv")]
    assert make_stats(argv) == 0
    tables = read_tables(get_figure("fig2"), shown, tmp_path / "fig2.tsv", REPORTED, "demo")
    figure = draw_fig2(tables)
    panels = {ax.get_title(loc="left"): ax for ax in figure.axes}
    methods = tables.methods[TASK]
    assert methods == ["sclong", "gears", "additive", "no_change"]
    for title in ("Seen 0/1", "Seen 0/2"):
        ax = [a for t, a in panels.items() if t.endswith(title)][0]
        bars = {round(p.get_x() + p.get_width() / 2) for p in ax.patches if isinstance(p, Rectangle)}
        labels = [(round(t.get_position()[0]), t.get_text()) for t in ax.texts]
        if title == "Seen 0/1":
            assert bars == {0, 1, 3} and (2, "n/a") in labels  # additive: no bar, an n/a
            assert not [text for x, text in labels if x == 2 and "*" in text]  # and no test mark
        else:
            assert bars == {0, 1, 2, 3} and not [text for _, text in labels if text == "n/a"]
    heatmap = [t for t in panels if t.startswith("e  ")][0]
    assert f"the 15 doubles x {HEATMAP_GENES} genes with the largest errors (only 15 test doubles in this" in heatmap
    scatter = [t for t in panels if t.startswith("c  ")][0]
    assert scatter.startswith("c  scLong, seed 0\nr = ") and "over 3 seeds" in scatter
    assert any(t.startswith("GEARS, seed 0") for t in panels)


def test_heatmap_keeps_the_largest_errors() -> None:
    conditions = [f"C{i}" for i in range(6)]
    genes = [f"g{i}" for i in range(8)]
    errors = np.full((len(genes), len(conditions)), 0.1)
    errors[:, 4] += 1.0  # C4 worst, then C1, then C5
    errors[:, 1] += 0.6
    errors[:, 5] += 0.3
    errors[6, 0] = 2.0  # a large error of g6 in a condition left out: it must not pick g6
    errors[2, [1, 4, 5]] += 2.0  # g2 worst over the chosen doubles, then g7, then g3
    errors[7, [1, 4, 5]] += 1.5
    errors[3, [1, 4, 5]] += 1.0
    table = pd.DataFrame([(c, g, errors[i, j]) for j, c in enumerate(conditions) for i, g in enumerate(genes)],
                         columns=["condition", "gene", "abs_error"])  # fmt: skip
    chosen = largest_errors(table, "x.tsv", n_genes=3, n_conditions=3)
    assert set(chosen.index) == {"C4", "C1", "C5"}  # rows: the doubles, in their clustering's order
    assert list(chosen.columns) == ["g2", "g7", "g3"]  # columns: the genes, largest error first
    assert chosen.loc["C1", "g7"] == pytest.approx(0.1 + 0.6 + 1.5)
    everything = largest_errors(table, "x.tsv", n_genes=90, n_conditions=40)  # fewer in the table: all of them
    assert everything.shape == (6, 8)
    pairs = {"A": (3.0, 0.0), "B": (0.0, 2.9), "A2": (2.8, 0.1), "B2": (0.1, 2.7)}  # by error: A, B, A2, B2
    similar = pd.DataFrame([(c, g, e) for c, errs in pairs.items() for g, e in zip(("x", "y"), errs, strict=True)],
                           columns=["condition", "gene", "abs_error"])  # fmt: skip
    order = list(largest_errors(similar, "x.tsv").index)
    assert abs(order.index("A") - order.index("A2")) == 1 and abs(order.index("B") - order.index("B2")) == 1
    with pytest.raises(InputError, match="x.tsv: repeats"):
        largest_errors(pd.concat([table, table.iloc[:1]]), "x.tsv")
    with pytest.raises(InputError, match="x.tsv: lacks the error of some genes"):
        largest_errors(table.iloc[1:], "x.tsv")


@pytest.mark.parametrize(
    ("skip", "message"),
    [
        ({"gears/seed0": ("gi",)}, "genetic_perturbation/gears/seed0: lacks the gi.tsv table Fig. 2 draws"),
        ({"sclong/seed0": ("double_errors",)},
         "genetic_perturbation/sclong/seed0: lacks the double_errors.tsv table Fig. 2 draws"),
    ],
)  # fmt: skip
def test_a_missing_artifact_is_a_clear_error(tmp_path: Path, skip: dict[str, tuple[str, ...]], message: str) -> None:
    paths = [p for p in perturbation_runs(tmp_path / "runs", skip) if p.parts[-3] != "wo_go"]
    with pytest.raises(InputError) as caught:
        draw(tmp_path, "fig2", paths)
    assert str(caught.value) == message
    assert not (tmp_path / "fig2.pdf").exists() and not (tmp_path / "fig2.png").exists()
