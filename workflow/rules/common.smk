# Configuration checks and helpers shared by every rule file.
import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sclong.config import check_source_paths, load_schema, validate_config  # noqa: E402
from sclong.errors import ConfigError  # noqa: E402

ROOT = Path(workflow.basedir)
SRC = ROOT / "src"
RESULTS = Path("results")
LOGS = RESULTS / "logs"
USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method

try:
    validate_config(config, load_schema(ROOT / "config" / "schema.yaml"))
    check_source_paths(config["sources"], Path.cwd())
except ConfigError as err:
    print(f"invalid configuration: {err}", file=sys.stderr)
    sys.exit(1)


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


def all_targets():
    """Everything `snakemake all` builds at the configured scale."""
    return []
