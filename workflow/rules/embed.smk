# Representations of every configured dataset under every model variant, computed once and reused.


rule embed:
    input:
        cells=lambda w: dataset_file(w.dataset),
        weights=PRETRAIN / "{variant}" / "model.safetensors",
    output:
        EMBEDDINGS / "{variant}" / "{dataset}.h5ad",
    log:
        LOGS / "embed" / "{variant}" / "{dataset}.log",
    wildcard_constraints:
        variant="|".join(VARIANTS),
        dataset="|".join(config["datasets"]) or "^$",
    conda:
        "../../envs/torch.yaml"
    threads: config["embed"]["threads"] or workflow.cores
    resources:
        gpu=0,
    params:
        checkpoint=lambda w: PRETRAIN / w.variant,
        settings=to_json(EMBED_OPTIONS),
    shell:
        logged(
            "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m sclong.embed {input.cells:q} --checkpoint {params.checkpoint:q}"
            " --settings {params.settings:q} -o {output:q}"
        )


rule embed_all:
    default_target: False
    input:
        [
            EMBEDDINGS / variant / f"{dataset}.h5ad"
            for variant in config["embed"]["variants"]
            for dataset in config["embed"]["datasets"]
        ],
