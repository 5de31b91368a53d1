# Gene knowledge: gene table, vocabulary, GO Jaccard graph (and its Random GO twin), Gene2vec matrix.


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
        "python -m sclong.knowledge.gene_table {input:q} {output:q} --format {params.table_format} 2> {log:q}"


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
        top_n=config["vocabulary"]["top_n_expressed"],
    shell:
        "python -m sclong.knowledge.vocabulary --gene-table {input.gene_table:q} --gaf {input.gaf:q}"
        " {params.gene2vec} --counts {input.counts:q} --top-n {params.top_n}"
        " --out {output.vocabulary:q} --report {output.report:q} 2> {log:q}"


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
        namespaces=",".join(config["go_graph"]["namespaces"]),
        propagate="--propagate" if config["go_graph"]["propagate"] else "",
        top_k=config["go_graph"]["top_k"],
        min_jaccard=config["go_graph"]["min_jaccard"],
    shell:
        "python -m sclong.knowledge.go_graph --vocabulary {input.vocabulary:q} --gene-table {input.gene_table:q}"
        " --gaf {input.gaf:q} --obo {input.obo:q} --namespaces {params.namespaces} {params.propagate}"
        " --top-k {params.top_k} --min-jaccard {params.min_jaccard} --out {output:q} 2> {log:q}"


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
        seed=config["go_graph"]["random_seed"],
    shell:
        "python -m sclong.knowledge.random_go --in {input:q} --seed {params.seed} --out {output:q} 2> {log:q}"


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
        flags=cli_flags(config["gene2vec"]),
    shell:
        "python -m sclong.knowledge.gene2vec --vocabulary {input.vocabulary:q} --gene-table {input.gene_table:q}"
        " --corpus {input.corpus:q} {params.pretrained} {params.flags}"
        " --out {output.matrix:q} --sources {output.sources:q} 2> {log:q}"


rule knowledge:
    default_target: False
    input:
        rules.vocabulary.output,
        rules.go_graph.output,
        rules.go_graph_random.output,
        rules.gene2vec.output,
