# Downstream tasks: one job per task and method running every seed (tasks.job_per: method), or one job per
# seed (job_per: seed); deterministic methods run once, with the first seed.


for _task in TASK_NAMES:
    for _seeded in (True, False):
        _methods = [
            m
            for m in config["tasks"][_task]["methods"]
            if get_task(_task).seeded(m) == _seeded
        ]
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
                    else [
                        TASKS / _task / "{method}" / f"seed{s}" / "metrics.tsv"
                        for s in _seeds
                    ]
                ),
            log:
                LOGS
                / "tasks"
                / _task
                / (
                    "{method}.seed{seed}.log"
                    if PER_SEED and _seeded
                    else "{method}.log"
                ),
            wildcard_constraints:
                method="|".join(_methods),
            conda:
                "../../envs/torch.yaml"
            threads: config["tasks"]["threads"] or workflow.cores
            resources:
                gpu=0,
            params:
                task=_task,
                seeds=(
                    (lambda w: w.seed)
                    if PER_SEED and _seeded
                    else " ".join(map(str, _seeds))
                ),
                settings=to_json(task_settings(config, _task)),
                inputs=input_flags,
                out=lambda w, task=_task: TASKS / task / w.method,
                scale=SCALE,
            shell:
                logged(
                    "OMP_NUM_THREADS={threads} NUMBA_NUM_THREADS={threads} python -m sclong.tasks.run"
                    " --task {params.task} --method {wildcards.method} --seeds {params.seeds} {params.inputs} --settings {params.settings:q} --scale {params.scale}"
                    " --out-dir {params.out:q}"
                )


rule tasks_all:
    default_target: False
    input:
        [
            task_metrics(task, method)
            for task in TASK_NAMES
            for method in config["tasks"][task]["methods"]
        ],
