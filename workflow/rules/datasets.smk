# Cells for embeddings and downstream tasks: <results_dir>/datasets/<name>.h5ad, or the user's own file; the
# drug tasks' data: the folder <results_dir>/datasets/<name>/ of a file set (sclong.data.file_sets).


rule dataset_pbmc68k:
    output:
        DATASETS / "{dataset}.h5ad",
    log:
        LOGS / "datasets" / "{dataset}.log",
    wildcard_constraints:
        dataset=builtin_datasets("pbmc68k"),
    conda:
        "../../envs/data.yaml"
    shell:
        logged("python -m sclong.data.pbmc68k --out {output:q}")


if LOCAL_CENSUS:

    rule dataset_simulated:
        input:
            rules.gene_table.output[0],
        output:
            DATASETS / "{dataset}.h5ad",
        log:
            LOGS / "datasets" / "{dataset}.log",
        wildcard_constraints:
            dataset=builtin_datasets("simulated"),
        conda:
            "../../envs/data.yaml"
        params:
            settings=lambda w: to_json(
                {
                    **LOCAL_CENSUS["simulator"],
                    "n_cells": config["datasets"][w.dataset]["n_cells"],
                    "cell_seed": config["datasets"][w.dataset]["cell_seed"],
                }
            ),
        shell:
            logged(
                "python -m sclong.data.simulate --genes {input:q} --settings {params.settings:q}"
                " --out {output:q}"
            )

    rule dataset_perturbseq:
        input:
            genes=rules.gene_table.output[0],
            vocabulary=rules.vocabulary.output.vocabulary,
        output:
            DATASETS / "{dataset}.h5ad",
        log:
            LOGS / "datasets" / "{dataset}.log",
        wildcard_constraints:
            dataset=builtin_datasets("perturbseq"),
        conda:
            "../../envs/data.yaml"
        params:
            settings=lambda w: to_json(
                {
                    "tissue": LOCAL_CENSUS["simulator"],
                    **{
                        k: v
                        for k, v in config["datasets"][w.dataset].items()
                        if k != "builtin"
                    },
                }
            ),
        shell:
            logged(
                "python -m sclong.data.perturbseq --genes {input.genes:q} --vocabulary {input.vocabulary:q}"
                " --settings {params.settings:q} --out {output:q}"
            )


rule dataset_convert:
    input:
        unpack(dataset_sources),
    output:
        DATASETS / "{dataset}.h5ad",
    log:
        LOGS / "datasets" / "{dataset}.log",
    wildcard_constraints:
        dataset=converted_datasets(),
    conda:
        "../../envs/data.yaml"
    params:
        settings=lambda w: to_json(config["datasets"][w.dataset]),
        files=lambda w, input: " ".join(
            f"--file {shlex.quote(f'{role}={path}')}" for role, path in input.items()
        ),
    shell:
        logged(
            "python -m sclong.data.datasets --name {wildcards.dataset} {params.files}"
            " --settings {params.settings:q} --out {output:q}"
        )


rule dataset_folder:
    input:
        unpack(dataset_sources),
    output:
        directory(DATASETS / "{dataset}"),
    log:
        LOGS / "datasets" / "{dataset}.log",
    wildcard_constraints:
        dataset=folder_datasets(built=False),
    conda:
        "../../envs/data.yaml"
    params:
        settings=lambda w: to_json(config["datasets"][w.dataset]),
        files=lambda w, input: " ".join(
            f"--file {shlex.quote(f'{role}={path}')}" for role, path in input.items()
        ),
    shell:
        logged(
            "python -m sclong.data.folders --name {wildcards.dataset} {params.files}"
            " --settings {params.settings:q} --out {output:q}"
        )


rule dataset_folder_demo:
    input:
        genes=rules.gene_table.output[0],
        vocabulary=rules.vocabulary.output.vocabulary,
        drugs="resources/demo/drugs.tsv",
    output:
        directory(DATASETS / "{dataset}"),
    log:
        LOGS / "datasets" / "{dataset}.log",
    wildcard_constraints:
        dataset=folder_datasets(built=True),
    conda:
        "../../envs/torch.yaml"
    params:
        builtin=lambda w: config["datasets"][w.dataset]["builtin"],
        settings=lambda w: to_json(
            {k: v for k, v in config["datasets"][w.dataset].items() if k != "builtin"}
        ),
    shell:
        logged(
            "python -m sclong.tasks.drugs.demo_data --builtin {params.builtin} --genes {input.genes:q} --vocabulary {input.vocabulary:q}"
            " --drugs {input.drugs:q} --settings {params.settings:q} --out {output:q}"
        )
