# Downstream tasks: one job per task and method running every seed (tasks.job_per: method), or one job per
# seed (job_per: seed); deterministic methods run once, with the first seed.

from sclong.tasks import TASK_MODULES, get_task  # noqa: E402

TASK_NAMES = [name for name in TASK_MODULES if name in config["tasks"]]
SEEDS = config["tasks"]["seeds"]
PER_SEED = config["tasks"]["job_per"] == "seed"


def task_seeds(task, method):
    """The seeds a method of a task runs with."""
    return SEEDS if get_task(task).seeded(method) else SEEDS[:1]


def task_metrics(task, method):
    """The metrics tables of every run of one method of one task."""
    return [TASKS / task / method / f"seed{seed}" / "metrics.tsv" for seed in task_seeds(task, method)]


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
        }
        return {name: paths[name] for name in task.inputs(wildcards.method)}

    return inputs


def task_settings(task):
    """The task's config section plus the settings it shares: tasks.device, embed.normalization."""
    return {
        **config["tasks"][task],
        "device": config["tasks"]["device"],
        "normalization": config["embed"]["normalization"],
    }


def input_flags(wildcards, input):
    """``--input NAME=PATH`` for every named input (a checkpoint as its directory)."""
    flags = []
    for name, path in input.items():
        path = Path(path).parent if name == "checkpoint" else Path(path)
        flags += ["--input", shlex.quote(f"{name}={path}")]
    return " ".join(flags)


for _task in TASK_NAMES:
    for _seeded in (True, False):
        _methods = [m for m in config["tasks"][_task]["methods"] if get_task(_task).seeded(m) == _seeded]
        if not _methods:
            continue
        _seeds = SEEDS if _seeded else SEEDS[:1]

        rule:
            name:
                f"task_{_task}" if _seeded else f"task_{_task}_deterministic"
            input:
                unpack(task_input_paths(_task)),
            output:
                (
                    [TASKS / _task / "{method}" / "seed{seed}" / "metrics.tsv"]
                    if PER_SEED and _seeded
                    else [TASKS / _task / "{method}" / f"seed{s}" / "metrics.tsv" for s in _seeds]
                ),
            log:
                LOGS / "tasks" / _task / ("{method}.seed{seed}.log" if PER_SEED and _seeded else "{method}.log"),
            wildcard_constraints:
                method="|".join(_methods),
            conda:
                "../../envs/torch.yaml"
            threads: config["tasks"]["threads"] or workflow.cores
            resources:
                gpu=0,
            params:
                task=_task,
                seeds=(lambda w: w.seed) if PER_SEED and _seeded else " ".join(map(str, _seeds)),
                settings=to_json(task_settings(_task)),
                inputs=input_flags,
                out=lambda w, task=_task: TASKS / task / w.method,
                scale=SCALE,
            shell:
                logged(
                    "OMP_NUM_THREADS={threads} python -m sclong.tasks.run --task {params.task} --method {wildcards.method}"
                    " --seeds {params.seeds} {params.inputs} --settings {params.settings:q} --scale {params.scale}"
                    " --out-dir {params.out:q}"
                )


rule tasks_all:
    default_target: False
    input:
        [task_metrics(task, method) for task in TASK_NAMES for method in config["tasks"][task]["methods"]],
