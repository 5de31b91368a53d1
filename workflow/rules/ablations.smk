# The ablation studies (Fig. 7): one target per model variant, `ablation_<variant>`, that builds the
# variant's pretraining (Random LEG: derived from sclong's), its embeddings and its runs of Fig. 7's tasks,
# then Fig. 7, its statistics and the reproduced-vs-reported table. Rebuild one variant alone with
# `snakemake ablation_<variant> --forcerun <results_dir>/pretrain/<variant>/model.safetensors` (README).


def derived_variants(variant):
    """The variant and the configured ones made from its checkpoint (Random LEG from sclong's)."""
    derived = ["random_leg"] if variant == "sclong" else []
    return [variant] + [v for v in derived if v in config["pretrain"]["variants"]]


def ablation_inputs(variant):
    """What `ablation_<variant>` builds, for it and the variants derived from it: weights, embeddings and
    runs of Fig. 7's tasks; then the figure and tables, from every variant's runs."""
    built = []
    for each in derived_variants(variant):
        datasets = (
            config["embed"]["datasets"] if each in config["embed"]["variants"] else []
        )
        built += [pretrained_weights(each)]
        built += [EMBEDDINGS / each / f"{dataset}.h5ad" for dataset in datasets]
        built += [
            path
            for task in get_figure("fig7").tasks
            if task in TASK_NAMES and each in config["tasks"][task]["methods"]
            for path in task_metrics(task, each)
        ]
    if "fig7" in BUILT_FIGURES:
        built += [STATS / "fig7.tsv", FIGURE_DIR / "fig7.pdf"]
    return built + list(rules.fidelity.output)


for _variant in config["pretrain"]["variants"]:

    rule:
        name:
            f"ablation_{_variant}"
        default_target: False
        input:
            ablation_inputs(_variant),
