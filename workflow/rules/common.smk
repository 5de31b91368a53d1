# Configuration checks and helpers shared by every rule file.
import json
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
from sclong.errors import ConfigError  # noqa: E402
from sclong.settings import to_json  # noqa: E402

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
VARIANTS = ["sclong", "wo_leg", "random_leg", "wo_go", "random_go"]
USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method


onstart:
    write_scale_stamp(config, Path.cwd())


LOCAL_CENSUS = config["corpus"]["local_census"]
CENSUS_URI = str(CORPUS / "local_census") if LOCAL_CENSUS else config["corpus"]["census"]["uri"]
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


def cli_flags(options):
    """Command-line flags for a mapping of option names to values: `--name value`, lists spread out,
    booleans as bare flags, null values left out."""
    flags = []
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        if value is None or value is False:
            continue
        if value is True:
            flags.append(flag)
        elif isinstance(value, list):
            flags += [flag, *map(shlex.quote, map(str, value))] if value else []
        else:
            flags += [flag, shlex.quote(str(value))]
    return " ".join(flags)


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
