# Configuration checks and helpers shared by every rule file.
import re
import shlex
import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sclong.config import (  # noqa: E402
    check_config,
    load_schema,
    validate_config,
    write_scale_stamp,
)
from sclong.data.file_sets import dataset_layout  # noqa: E402
from sclong.errors import ConfigError  # noqa: E402
from sclong.figures import FIGURES, figure_methods, get_figure  # noqa: E402
from sclong.settings import to_json  # noqa: E402
from sclong.tasks import TASK_MODULES, get_task, task_settings  # noqa: E402

ROOT = Path(workflow.basedir)
SRC = ROOT / "src"
try:
    validate_config(config, load_schema(ROOT / "config" / "schema.yaml"))
    check_config(config, Path.cwd())
except ConfigError as err:
    print(f"invalid configuration: {err}", file=sys.stderr)
    sys.exit(1)

RESULTS = Path(config["results_dir"])
LOGS = RESULTS / "logs"
KNOWLEDGE = RESULTS / "knowledge"
CORPUS = RESULTS / "corpus"
PRETRAIN = RESULTS / "pretrain"
EMBEDDINGS = RESULTS / "embeddings"
DATASETS = RESULTS / "datasets"
TASKS = RESULTS / "tasks"
STATS = RESULTS / "stats"
FIGURE_DIR = RESULTS / "figures"
REPORT_DIR = RESULTS / "report"
SCALE = config["scale"]
REPORTED = "resources/paper/reported.tsv"
VARIANTS = ["sclong", "wo_leg", "random_leg", "wo_go", "random_go"]
USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method


onstart:
    write_scale_stamp(config, Path.cwd())


TASK_NAMES = [name for name in TASK_MODULES if name in config["tasks"]]
SEEDS = config["tasks"]["seeds"]
PER_SEED = config["tasks"]["job_per"] == "seed"
LOCAL_CENSUS = config["corpus"]["local_census"]
CENSUS_URI = (
    str(CORPUS / "local_census") if LOCAL_CENSUS else config["corpus"]["census"]["uri"]
)
EMBED_OPTIONS = {
    key: value
    for key, value in config["embed"].items()
    if key not in ("datasets", "variants", "threads")
}
PRETRAIN_OPTIONS = {
    key: value
    for key, value in config["pretrain"].items()
    if key not in ("variants", "threads")
}


# Rules run `python -m sclong...`: from the rule's conda env on a cluster, else from the Python
# that runs Snakemake (the project's virtual environment).
_path = "" if USES_CONDA else f"export PATH={Path(sys.executable).parent}:$PATH; "
shell.prefix(
    f"set -euo pipefail; {_path}export PYTHONPATH={SRC}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)


def source_file(name):
    """Local path of an external source: its committed `path`, or where its download lands."""
    source = config["sources"][name]
    if "path" in source:
        return source["path"]
    filename = source.get("filename") or Path(source["url"].split("?")[0]).name
    return f"resources/downloads/{name}/{filename}"


def optional_source(name):
    """Input list holding the source's local path, or nothing when the config sets it to null."""
    return [source_file(name)] if config["sources"].get(name) else []


def census_input():
    """The local Census store when the demo builds one; a released Census is read remotely."""
    return rules.local_census.output if LOCAL_CENSUS else []


def logged(command):
    """``command`` with its stderr in the rule's log; when it fails, the log's last line (the one-line
    error) also reaches the console, and the exit status is kept."""
    return f"{command} 2> {{log:q}} || {{{{ status=$?; tail -n 1 {{log:q}} >&2; exit $status; }}}}"


CENSUS_SETTINGS = to_json({**config["corpus"]["census"], "uri": CENSUS_URI})
CORPUS_SETTINGS = to_json(
    {
        key: value
        for key, value in config["corpus"].items()
        if key not in ("census", "local_census")
    }
)


def pretrained_weights(variant):
    """Weights of one model variant."""
    return PRETRAIN / variant / "model.safetensors"


def processes_per_node(resources):
    """Training processes per node: the GPU count of a `gres` such as gpu:a100:8, else `gpu`, else 1."""
    match = re.search(r"gpu(?::[^:,]+)?:(\d+)", str(resources.get("gres", "") or ""))
    return int(match.group(1)) if match else max(int(resources.get("gpu", 0) or 0), 1)


def all_targets():
    """Everything `snakemake all` builds at the configured scale."""
    return [
        *rules.knowledge.input,
        *rules.corpus.input,
        *rules.pretrain_all.input,
        *rules.embed_all.input,
        *rules.tasks_all.input,
        *rules.stats_all.input,
        *rules.figures_all.input,
    ]


# Datasets


def dataset_file(name):
    """The .h5ad or folder of dataset ``name``: a user's `path` or `folder`, else what a dataset rule writes."""
    dataset = config["datasets"][name]
    if "path" in dataset or "folder" in dataset:
        return dataset.get("path") or dataset["folder"]
    if dataset_layout(dataset) != "h5ad":
        return DATASETS / name
    return DATASETS / f"{name}.h5ad"


def builtin_datasets(kind):
    """Names of the datasets of one builtin kind (a wildcard constraint; never empty)."""
    names = [n for n, d in config["datasets"].items() if d.get("builtin") == kind]
    return "|".join(names) or "^$"


def converted_datasets():
    """Names of the datasets converted from downloads to one .h5ad (a wildcard constraint; never empty)."""
    names = [
        n
        for n, d in config["datasets"].items()
        if "files" in d and dataset_layout(d) == "h5ad"
    ]
    return "|".join(names) or "^$"


def folder_datasets(built):
    """Names of the folder datasets copied from downloads (``built`` False) or simulated by a demo builtin
    (``built`` True) (a wildcard constraint; never empty)."""
    names = [
        n
        for n, d in config["datasets"].items()
        if dataset_layout(d) != "h5ad"
        and ("builtin" in d) == built
        and "folder" not in d
    ]
    return "|".join(names) or "^$"


def dataset_sources(wildcards):
    """Role -> downloaded file of a converted dataset."""
    files = config["datasets"][wildcards.dataset]["files"]
    return {role: source_file(file["source"]) for role, file in files.items()}


# Downstream tasks


def task_seeds(task, method):
    """The seeds a method of a task runs with."""
    return SEEDS if get_task(task).seeded(method) else SEEDS[:1]


def task_metrics(task, method):
    """The metrics tables of every run of one method of one task."""
    return [
        TASKS / task / method / f"seed{seed}" / "metrics.tsv"
        for seed in task_seeds(task, method)
    ]


def task_input_paths(task_name):
    """Input function: the files the method of the job needs, by the names the task asks for."""
    task = get_task(task_name)
    settings = config["tasks"][task_name]

    def inputs(wildcards):
        paths = {
            "dataset": dataset_file(settings["dataset"]),
            "embedding": EMBEDDINGS / wildcards.method / f"{settings['dataset']}.h5ad",
            "checkpoint": pretrained_weights(wildcards.method),
            "go_graph": rules.go_graph.output[0],
            "gene_table": rules.gene_table.output[0],
            "go_gaf": source_file("go_gaf"),
            "go_obo": source_file("go_obo"),
            "gene2vec": rules.gene2vec.output.matrix,
            "vocabulary": rules.vocabulary.output.vocabulary,
        }
        return {name: paths[name] for name in task.inputs(wildcards.method)}

    return inputs


def input_flags(wildcards, input):
    """``--input NAME=PATH`` for every named input (a checkpoint as its directory)."""
    flags = []
    for name, path in input.items():
        path = Path(path).parent if name == "checkpoint" else Path(path)
        flags += ["--input", shlex.quote(f"{name}={path}")]
    return " ".join(flags)


# Statistics and figures


def unconfigured_tasks(figure):
    """The tasks a figure shows that this config does not run, when the figure cannot be built without them
    (a partial figure, such as Fig. 7, needs one of its tasks only)."""
    spec = get_figure(figure)
    missing = [task for task in spec.tasks if task not in TASK_NAMES]
    return [] if spec.partial and len(missing) < len(spec.tasks) else missing


BUILT_FIGURES = [figure for figure in FIGURES if not unconfigured_tasks(figure)]


def figure_runs(figure):
    """Metrics tables of every run a figure shows (its configured tasks' configured methods, each with its
    seeds); a figure of a task this config does not run stops the workflow with one line (a partial figure
    only when none of its tasks is configured)."""
    spec = get_figure(figure)
    missing = unconfigured_tasks(figure)
    if missing:
        keys = ", ".join(f"tasks.{task}" for task in missing)
        print(
            f"cannot build {figure}: no config section {keys} for the task(s) it shows",
            file=sys.stderr,
        )
        sys.exit(1)
    return [
        path
        for task in spec.tasks
        if task in TASK_NAMES
        for method in figure_methods(spec, config["tasks"][task]["methods"])
        for path in task_metrics(task, method)
    ]


def figure_caption(wildcards):
    """The figure's own caption text (workflow/report/<figure>.rst)."""
    return (ROOT / "workflow" / "report" / f"{wildcards.figure}.rst").read_text()
