"""End-to-end pretraining runs in subprocesses: outputs, kill -9 / SIGTERM resume, DDP equivalence, and
workers that die with the job that started them."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from synthetic import Knowledge, pretrain_args, write_genes

from sclong.model import load_checkpoint
from sclong.train.runtime import EXIT_INTERRUPTED

pytestmark = pytest.mark.timeout(300)


def command(corpus: Path, knowledge: Knowledge, out: Path, steps: int = 60, **changes) -> list[str]:
    return pretrain_args(corpus, knowledge, out, max_steps=steps, **changes)


def pretrain(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "sclong.train.pretrain", *args], env=env, **kwargs)


def metrics(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def wait_for_step(process: subprocess.Popen, out: Path, step: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "run ended before it could be interrupted"
        if (out / "metrics.csv").exists() and any(int(r["step"]) >= step for r in metrics(out)):
            return
        time.sleep(0.01)
    raise TimeoutError(f"step {step} never logged")


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model.safetensors"))


@pytest.fixture(scope="module")
def reference(corpus, knowledge, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert pretrain(command(corpus, knowledge, out)).wait() == 0
    return out


@pytest.fixture(scope="module")
def reference_log4(corpus, knowledge, tmp_path_factory) -> Path:
    """Metrics rows every 4 steps: checkpoints (every 7) fall inside logging windows."""
    out = tmp_path_factory.mktemp("reference_log4") / "run"
    assert pretrain(command(corpus, knowledge, out, log_every=4)).wait() == 0
    return out


def test_outputs(reference):
    assert {p.name for p in reference.iterdir()} >= {
        "model.safetensors", "model_config.json", "train_config.json", "metrics.csv", "checkpoint", "DONE",
    }  # fmt: skip
    rows = metrics(reference)
    assert [int(r["step"]) for r in rows] == list(range(1, 61))
    final = rows[-1]
    assert float(final["val_loss"]) < float(final["baseline_val_mse"])
    assert rows[19]["val_loss"] and not rows[18]["val_loss"]
    done = json.loads((reference / "DONE").read_text())
    assert done["steps"] == 60 and done["val_loss"] == pytest.approx(float(final["val_loss"]))
    config = json.loads((reference / "train_config.json").read_text())
    assert config["variant"] == "sclong" and config["model"]["use_leg"]
    assert config["train"]["micro_batch_size"] == 8 and config["global_batch"] == 8
    bundle = load_checkpoint(reference)  # the vocabulary and gene table travel with the weights
    assert list(bundle.vocabulary["ensembl_id"]) == [f"ENSG{g:011d}" for g in range(48)]
    assert bundle.sha256 == done["model_sha256"]


def test_kill_9_twice_then_rerun_gives_identical_weights(corpus, knowledge, reference_log4, tmp_path):
    reference = reference_log4
    out = tmp_path / "run"
    args = command(corpus, knowledge, out, log_every=4)
    for step in (10, 30):  # between checkpoints (every 7 steps)
        process = pretrain(args)
        wait_for_step(process, out, step)
        process.kill()
        process.wait()
        assert not (out / "DONE").exists()
    assert pretrain(args).wait() == 0
    expected, got = weights(reference), weights(out)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    ref_rows, rows = metrics(reference), metrics(out)
    assert [int(r["step"]) for r in rows] == list(range(4, 61, 4))
    for key in ("train_loss", "val_loss", "baseline_val_mse", "lr"):
        assert [r[key] for r in rows] == [r[key] for r in ref_rows]


def test_sigterm_checkpoints_and_exits_75(corpus, knowledge, reference_log4, tmp_path):
    reference = reference_log4
    out = tmp_path / "run"
    args = command(corpus, knowledge, out, log_every=4)
    process = pretrain(args)
    wait_for_step(process, out, 10)
    process.send_signal(signal.SIGTERM)
    assert process.wait() == EXIT_INTERRUPTED == 75
    (stopped,) = [int(p.name.removeprefix("step-")) for p in (out / "checkpoint").iterdir()]
    assert stopped >= 10 and not (out / "DONE").exists()
    assert pretrain(args).wait() == 0
    expected, got = weights(reference), weights(out)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert [r["train_loss"] for r in metrics(out)] == [r["train_loss"] for r in metrics(reference)]


def test_changed_hyper_parameters_refuse_to_resume(corpus, knowledge, reference, tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    source = next((reference / "checkpoint").iterdir())
    os.symlink(source, out / "checkpoint" / source.name)
    result = subprocess.run(
        [sys.executable, "-m", "sclong.train.pretrain", *command(corpus, knowledge, out, max_lr=2e-3)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and "config key 'pretrain.max_lr': differs from the checkpoint" in result.stderr


def test_gene_files_of_another_corpus_are_refused_before_training(corpus, knowledge, tmp_path):
    vocabulary, _ = write_genes(tmp_path / "genes", 47)
    args = command(corpus, knowledge._replace(vocabulary=vocabulary), tmp_path / "run")
    result = subprocess.run([sys.executable, "-m", "sclong.train.pretrain", *args], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"error: {vocabulary}: has 47 genes, the model (and its corpus) 48"
    assert not (tmp_path / "run").exists()


def test_ddp_two_ranks_match_one_rank(corpus, knowledge, reference, tmp_path):
    out = tmp_path / "ddp"
    args = command(corpus, knowledge, out, micro_batch_size=4)  # the reference's global batch of 8
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "sclong.train.launch", "--nproc-per-node", "2", "--"]  # exec's torchrun
    result = subprocess.run([*launch, *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for one, two in zip(metrics(reference), metrics(out), strict=True):
        for key in ("train_loss", "val_loss", "baseline_val_mse"):
            if one[key]:
                assert float(two[key]) == pytest.approx(float(one[key]), rel=1e-4), (one["step"], key)
    record = json.loads((out / "train_config.json").read_text())
    assert (record["world_size"], record["global_batch"]) == (2, 8)


def test_sigterm_under_torchrun_checkpoints_on_every_rank(corpus, knowledge, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "sclong.train.launch", "--nproc-per-node", "2", "--"]
    process = subprocess.Popen(
        [*launch, *command(corpus, knowledge, out, steps=200, micro_batch_size=4)],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    wait_for_step(process, out, 5)
    process.send_signal(signal.SIGTERM)  # the launcher exec'd torchrun, which forwards it to both ranks
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0  # torchrun reports the signal
    assert stderr.count(f"checkpoint written, exiting {EXIT_INTERRUPTED}") == 2
    (step,) = [int(p.name.removeprefix("step-")) for p in (out / "checkpoint").iterdir()]
    assert step == max(int(r["step"]) for r in metrics(out)) and not (out / "DONE").exists()


def test_gradient_accumulation_matches_one_micro_batch(corpus, knowledge, reference, tmp_path):
    out = tmp_path / "accum"
    assert pretrain(command(corpus, knowledge, out, micro_batch_size=2, grad_accum=4)).wait() == 0
    for one, four in zip(metrics(reference), metrics(out), strict=True):
        assert float(four["train_loss"]) == pytest.approx(float(one["train_loss"]), rel=1e-4), one["step"]


@pytest.mark.parametrize("variant", ["wo_leg", "wo_go"])
def test_ablation_variants_train(corpus, knowledge, tmp_path, variant):
    out = tmp_path / variant
    assert (
        pretrain(pretrain_args(corpus, knowledge, out, variant, max_steps=4, micro_batch_size=4, grad_accum=2)).wait()
        == 0
    )
    config = json.loads((out / "model_config.json").read_text())
    assert (config["use_leg"], config["use_go"]) == (variant != "wo_leg", variant != "wo_go")
    rows = metrics(out)  # wo_leg: a tiny batch may have no predicted loss position (train_loss nan)
    assert any(float(r["train_loss"]) > 0 for r in rows) and float(rows[-1]["val_loss"]) > 0


def children(pid: int) -> list[int]:
    """The pids of the direct children of process ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("killed", ["job", "torchrun"])
def test_training_dies_with_its_job(corpus, knowledge, tmp_path, killed):
    """SIGKILL of the job that started the launcher (as when Snakemake is killed), or of torchrun itself,
    ends torchrun and its worker (which checkpoints first) instead of leaving them training on their own."""
    out, log = tmp_path / "run", tmp_path / "stderr.log"
    launch = [sys.executable, "-m", "sclong.train.launch", "--nproc-per-node", "1", "--",
              *command(corpus, knowledge, out, steps=100_000, checkpoint_every=100_000)]  # fmt: skip
    job_script = (
        "import subprocess, sys; "
        f"p = subprocess.Popen({launch!r}, stderr=open({str(log)!r}, 'w')); print(p.pid, flush=True); p.wait()"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen([sys.executable, "-c", job_script], env=env, stdout=subprocess.PIPE, text=True)
    torchrun = int(job.stdout.readline())
    processes = [torchrun]
    try:
        deadline = time.monotonic() + 120
        while not ((out / "metrics.csv").exists() and metrics(out)):  # the worker is training
            assert time.monotonic() < deadline and job.poll() is None, log.read_text()
            time.sleep(0.1)
        processes += children(torchrun)
        assert len(processes) == 2, processes  # torchrun and its one worker
        os.kill(job.pid if killed == "job" else torchrun, signal.SIGKILL)
        job.wait()
        deadline = time.monotonic() + 30
        while any(map(running, processes)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(running, processes)), f"still running 30 s after the {killed} was killed: {processes}"
    finally:
        for pid in processes:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
    assert f"checkpoint written, exiting {EXIT_INTERRUPTED}" in log.read_text()
    assert (out / "checkpoint").is_dir() and not (out / "DONE").exists()
