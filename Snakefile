# scLong, end to end: gene knowledge, pretraining corpus, pretraining, embeddings, downstream tasks,
# statistics, figures and `snakemake --report results/report.html`.
# `snakemake --profile profiles/local` runs the demo; see README.md for paper scale and SLURM.
from snakemake.utils import min_version

min_version("9.0")


# The embedded demo config, unless --configfile names another (which then replaces it, not merges).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/knowledge.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/tasks.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/ablations.smk"


rule all:
    default_target: True
    input:
        all_targets(),
