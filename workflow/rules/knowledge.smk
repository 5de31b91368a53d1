# Gene knowledge: gene table, vocabulary, GO Jaccard graph (and its Random GO twin), Gene2vec matrix.
# Each stage command takes its config section as one JSON mapping (--settings); paths stay flags.


rule gene_table:
    input:
        source_file("gene_table"),
    output:
        KNOWLEDGE / "gene_table.tsv.gz",
    log:
        LOGS / "knowledge" / "gene_table.log",
    conda:
        "../../envs/knowledge.yaml"
    params:
        table_format=config["sources"]["gene_table"].get("format", "sclong"),
    shell:
        logged(
            "python -m sclong.knowledge.gene_table {input:q} {output:q} --format {params.table_format}"
        )


rule vocabulary:
    input:
        gene_table=rules.gene_table.output[0],
        gaf=source_file("go_gaf"),
        counts=CORPUS / "gene_nonzero_counts.tsv",
        gene2vec=optional_source("gene2vec"),
    output:
        vocabulary=KNOWLEDGE / "vocabulary.tsv",
        report=KNOWLEDGE / "mapping_report.tsv",
    log:
        LOGS / "knowledge" / "vocabulary.log",
    conda:
        "../../envs/knowledge.yaml"
    params:
        gene2vec=lambda w, input: (
            f"--gene2vec {input.gene2vec}" if input.gene2vec else ""
        ),
        settings=to_json(config["vocabulary"]),
        gaf_settings=to_json(config["go_annotations"]),
    shell:
        logged(
            "python -m sclong.knowledge.vocabulary --gene-table {input.gene_table:q} --gaf {input.gaf:q}"
            " {params.gene2vec} --counts {input.counts:q} --settings {params.settings:q}"
            " --gaf-settings {params.gaf_settings:q}"
            " --out {output.vocabulary:q} --report {output.report:q}"
        )


rule go_graph:
    input:
        vocabulary=rules.vocabulary.output.vocabulary,
        gene_table=rules.gene_table.output[0],
        gaf=source_file("go_gaf"),
        obo=source_file("go_obo"),
    output:
        KNOWLEDGE / "go_graph.tsv",
    log:
        LOGS / "knowledge" / "go_graph.log",
    conda:
        "../../envs/knowledge.yaml"
    params:
        settings=to_json(config["go_graph"]),
        gaf_settings=to_json(config["go_annotations"]),
    shell:
        logged(
            "python -m sclong.knowledge.go_graph --vocabulary {input.vocabulary:q} --gene-table {input.gene_table:q}"
            " --gaf {input.gaf:q} --obo {input.obo:q} --settings {params.settings:q}"
            " --gaf-settings {params.gaf_settings:q} --out {output:q}"
        )


rule go_graph_random:
    input:
        rules.go_graph.output[0],
    output:
        KNOWLEDGE / "go_graph_random.tsv",
    log:
        LOGS / "knowledge" / "go_graph_random.log",
    conda:
        "../../envs/knowledge.yaml"
    params:
        settings=to_json(config["go_graph"]),
    shell:
        logged(
            "python -m sclong.knowledge.random_go --in {input:q} --settings {params.settings:q}"
            " --out {output:q}"
        )


rule gene2vec:
    input:
        vocabulary=rules.vocabulary.output.vocabulary,
        gene_table=rules.gene_table.output[0],
        corpus=CORPUS / "shards",
        pretrained=optional_source("gene2vec"),
    output:
        matrix=KNOWLEDGE / "gene2vec.npy",
        sources=KNOWLEDGE / "gene2vec_sources.tsv",
    log:
        LOGS / "knowledge" / "gene2vec.log",
    conda:
        "../../envs/knowledge.yaml"
    params:
        pretrained=lambda w, input: (
            f"--pretrained {input.pretrained}" if input.pretrained else ""
        ),
        settings=to_json(config["gene2vec"]),
    shell:
        logged(
            "python -m sclong.knowledge.gene2vec --vocabulary {input.vocabulary:q} --gene-table {input.gene_table:q}"
            " --corpus {input.corpus:q} {params.pretrained} --settings {params.settings:q}"
            " --out {output.matrix:q} --sources {output.sources:q}"
        )


rule knowledge:
    default_target: False
    input:
        rules.vocabulary.output,
        rules.go_graph.output,
        rules.go_graph_random.output,
        rules.gene2vec.output,
