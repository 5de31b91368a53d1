# The ablation studies (Fig. 7): one target per model variant, `ablation_<variant>`, that builds the
# variant's pretraining (Random LEG: derived from sclong's), its embeddings and its runs of Fig. 7's tasks,
# then Fig. 7, its statistics and the reproduced-vs-reported table. Rebuild one variant alone with
# `snakemake ablation_<variant> --forcerun <results_dir>/pretrain/<variant>/model.safetensors` (README).


def ablation_inputs(variant):
    """What `ablation_<variant>` builds (the figure and tables last, from every variant's runs)."""
    embedded = variant in config["embed"]["variants"]
    return [
        pretrained_weights(variant),
        *[
            EMBEDDINGS / variant / f"{dataset}.h5ad"
            for dataset in (config["embed"]["datasets"] if embedded else [])
        ],
        *[
            path
            for task in get_figure("fig7").tasks
            if task in TASK_NAMES and variant in config["tasks"][task]["methods"]
            for path in task_metrics(task, variant)
        ],
        *(
            [STATS / "fig7.tsv", FIGURE_DIR / "fig7.pdf"]
            if "fig7" in BUILT_FIGURES
            else []
        ),
        *rules.fidelity.output,
    ]


for _variant in config["pretrain"]["variants"]:

    rule:
        name:
            f"ablation_{_variant}"
        default_target: False
        input:
            ablation_inputs(_variant),
