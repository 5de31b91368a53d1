# Pretraining: one run per trained variant; Random LEG is derived from the sclong checkpoint.
# Each run writes a checkpoint bundle (weights, model config, copies of the vocabulary and gene table,
# manifest with their sha256) that `sclong embed --checkpoint DIR` needs no other file for.

CHECKPOINT_FILES = {
    "weights": "model.safetensors",
    "model_config": "model_config.json",
    "vocabulary": "vocabulary.tsv",
    "gene_table": "gene_table.tsv.gz",
    "manifest": "manifest.json",
}


rule pretrain:
    input:
        corpus=rules.corpus_shards.output[0],
        gene2vec=rules.gene2vec.output.matrix,
        go_graph=lambda w: (
            rules.go_graph_random.output[0]
            if w.variant == "random_go"
            else rules.go_graph.output[0]
        ),
        vocabulary=rules.vocabulary.output.vocabulary,
        gene_table=rules.gene_table.output[0],
    output:
        **{key: PRETRAIN / "{variant}" / name for key, name in CHECKPOINT_FILES.items()},
        metrics=PRETRAIN / "{variant}" / "metrics.csv",
    log:
        LOGS / "pretrain" / "{variant}.log",
    wildcard_constraints:
        variant="sclong|wo_leg|wo_go|random_go",
    conda:
        "../../envs/torch.yaml"
    threads: config["pretrain"]["threads"] or workflow.cores
    resources:
        gpu=0,
    params:
        out=lambda w: PRETRAIN / w.variant,
        model=shlex.quote(to_json(config["model"])),
        settings=shlex.quote(to_json(PRETRAIN_OPTIONS)),
        processes=lambda w, resources: processes_per_node(resources),
    shell:
        # A finished run's checkpoints belong to the outputs being rebuilt: start afresh. An unfinished
        # run (preempted, killed) keeps them and resumes. `exec`: SIGTERM (preemption) must find no bash
        # between Snakemake and torchrun, since bash dies of it at once while training still checkpoints.
        "if [ -e {params.out:q}/DONE ]; then rm -r {params.out:q}/DONE {params.out:q}/checkpoint; fi;"
        " exec python -m sclong.train.launch --nproc-per-node {params.processes} --"
        " --settings {params.settings} --model-config {params.model} --variant {wildcards.variant}"
        " --corpus {input.corpus:q} --gene2vec {input.gene2vec:q} --go-graph {input.go_graph:q}"
        " --vocabulary {input.vocabulary:q} --gene-table {input.gene_table:q} --out {params.out:q}"
        " --threads {threads} --no-progress 2> {log:q}"


rule random_leg:
    input:
        [PRETRAIN / "sclong" / name for name in CHECKPOINT_FILES.values()],
    output:
        **{
            key: PRETRAIN / "random_leg" / name
            for key, name in CHECKPOINT_FILES.items()
        },
    log:
        LOGS / "pretrain" / "random_leg.log",
    conda:
        "../../envs/torch.yaml"
    params:
        source=PRETRAIN / "sclong",
        out=PRETRAIN / "random_leg",
        seed=config["pretrain"]["seed"],
    shell:
        logged(
            "python -m sclong.model.random_leg --checkpoint {params.source:q} --seed {params.seed}"
            " --out {params.out:q}"
        )


rule pretrain_all:
    default_target: False
    input:
        [pretrained_weights(variant) for variant in config["pretrain"]["variants"]],
