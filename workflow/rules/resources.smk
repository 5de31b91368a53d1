# External sources: one download rule for every source given as a URL in config `sources`.


rule download_source:
    output:
        "resources/downloads/{source}/{filename}",
    log:
        LOGS / "download" / "{source}" / "{filename}.log",
    conda:
        "../../envs/data.yaml"
    params:
        url=lambda w: config["sources"][w.source]["url"],
        sha256=lambda w: config["sources"][w.source].get("sha256") or "",
        lock=config["checksum_lock"],
        settings=to_json(config["download"]),
    shell:
        logged(
            "python -m sclong.io.download {params.url:q} {output:q} --sha256 '{params.sha256}'"
            " --lock-file {params.lock:q} --settings {params.settings:q}"
        )
