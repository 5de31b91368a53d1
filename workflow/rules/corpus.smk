# Pretraining corpus: the demo's local Census, per-gene counts, and the sharded, normalised corpus.

if LOCAL_CENSUS:

    rule simulate_demo_cells:
        input:
            rules.gene_table.output[0],
        output:
            cells=CORPUS / "demo" / "simulated_cells.h5ad",
            network=CORPUS / "demo" / "simulated_network.tsv",
        log:
            LOGS / "corpus" / "simulate_demo_cells.log",
        conda:
            "../../envs/data.yaml"
        params:
            settings=to_json(LOCAL_CENSUS["simulator"]),
        shell:
            logged(
                "python -m sclong.data.simulate --genes {input:q} --settings {params.settings:q}"
                " --out {output.cells:q} --network {output.network:q}"
            )

    rule local_census:
        input:
            genes=rules.gene_table.output[0],
            cells=rules.simulate_demo_cells.output.cells,
        output:
            directory(CENSUS_URI),
        log:
            LOGS / "corpus" / "local_census.log",
        conda:
            "../../envs/data.yaml"
        params:
            pbmc68k="--pbmc68k" if LOCAL_CENSUS["pbmc68k"] else "",
        shell:
            logged(
                "python -m sclong.data.local_census --out {output:q} --genes {input.genes:q} {params.pbmc68k}"
                " --h5ad {input.cells:q} --split-by batch"
            )


rule corpus_gene_counts:
    input:
        census_input(),
    output:
        CORPUS / "gene_nonzero_counts.tsv",
    log:
        LOGS / "corpus" / "gene_counts.log",
    conda:
        "../../envs/data.yaml"
    params:
        census=CENSUS_SETTINGS,
    shell:
        logged(
            "python -m sclong.data.corpus gene-counts --census {params.census:q} --out {output:q}"
        )


rule corpus_shards:
    input:
        census=census_input(),
        vocabulary=rules.vocabulary.output.vocabulary,
    output:
        directory(CORPUS / "shards"),
    log:
        LOGS / "corpus" / "shards.log",
    conda:
        "../../envs/data.yaml"
    params:
        census=CENSUS_SETTINGS,
        settings=CORPUS_SETTINGS,
    shell:
        logged(
            "python -m sclong.data.corpus build --census {params.census:q} --vocabulary {input.vocabulary:q}"
            " --settings {params.settings:q} --out {output:q}"
        )


rule corpus:
    default_target: False
    input:
        rules.corpus_shards.output,
