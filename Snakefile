# scLong, end to end: gene knowledge, pretraining corpus, pretraining, embeddings.
# `snakemake --profile profiles/local` runs the demo; see README.md for paper scale and SLURM.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"


rule all:
    input:
        all_targets(),
    default_target: True
