# Statistics, figures, the reproduced-vs-reported table: everything the report shows.


rule stats:
    input:
        lambda w: figure_runs(w.figure),
    output:
        report(
            STATS / "{figure}.tsv",
            caption="../report/stats.rst",
            category="t-tests",
        ),
    log:
        LOGS / "stats" / "{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=to_json(config["stats"]),
    shell:
        logged(
            "python -m sclong.stats --figure {wildcards.figure} --metrics {input:q}"
            " --settings {params.settings:q} --out {output:q}"
        )


rule figure:
    input:
        metrics=lambda w: figure_runs(w.figure),
        stats=STATS / "{figure}.tsv",
        reported=REPORTED,
    output:
        pdf=FIGURE_DIR / "{figure}.pdf",
        png=report(
            FIGURE_DIR / "{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
    log:
        LOGS / "figures" / "{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        "../../envs/analysis.yaml"
    params:
        caption=figure_caption,
        scale=SCALE,
    shell:
        logged(
            "python -m sclong.figures.make --figure {wildcards.figure} --metrics {input.metrics:q}"
            " --stats {input.stats:q} --reported {input.reported:q} --scale {params.scale}"
            " --pdf {output.pdf:q} --png {output.png:q}"
        )


rule fidelity:
    input:
        metrics=rules.tasks_all.input,
        reported=REPORTED,
    output:
        report(
            REPORT_DIR / "fidelity.tsv",
            caption="../report/fidelity.rst",
            category="Reproduced vs reported",
        ),
    log:
        LOGS / "report" / "fidelity.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        scale=SCALE,
    shell:
        logged(
            "python -m sclong.fidelity --reported {input.reported:q} --metrics {input.metrics:q}"
            " --scale {params.scale} --out {output:q}"
        )


rule stats_all:
    default_target: False
    input:
        [STATS / f"{figure}.tsv" for figure in BUILT_FIGURES],


rule figures_all:
    default_target: False
    input:
        [FIGURE_DIR / f"{figure}.pdf" for figure in BUILT_FIGURES],
        rules.fidelity.output,
