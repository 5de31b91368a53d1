import pytest
import torch

from sclong.train.schedule import WarmRestartCosine, cycle_position, warm_restart_lr

PAPER = dict(max_lr=5e-5, min_lr=1e-6, first_cycle=15, cycle_mult=2.0, warmup=5, gamma=0.9)


def test_cycles_double():
    assert cycle_position(0, 15, 2) == (0, 0, 15)
    assert cycle_position(14, 15, 2) == (0, 14, 15)
    assert cycle_position(15, 15, 2) == (1, 0, 30)
    assert cycle_position(45, 15, 2) == (2, 0, 60)
    assert cycle_position(104, 15, 2) == (2, 59, 60)
    assert cycle_position(30, 15, 1) == (2, 0, 15)


def test_paper_curve():
    lr = [warm_restart_lr(s, **PAPER) for s in range(120)]
    assert lr[0] == pytest.approx(1e-6)
    assert lr[5] == pytest.approx(5e-5)  # end of warm-up: the peak
    assert max(lr[:15]) == pytest.approx(5e-5)
    assert lr[15] == pytest.approx(1e-6)  # restart
    assert lr[20] == pytest.approx(0.9 * 5e-5)
    assert lr[50] == pytest.approx(0.81 * 5e-5)
    assert all(a >= b for a, b in zip(lr[5:15], lr[6:15], strict=False))  # cosine decay
    assert min(lr) >= 1e-6


def test_scheduler_drives_optimizer_and_resumes():
    def make():
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return opt, WarmRestartCosine(opt, **PAPER)

    opt, sched = make()
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([warm_restart_lr(s, **PAPER) for s in range(20)])
    opt2, sched2 = make()
    sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    for _ in range(3):
        opt.step(), sched.step(), opt2.step(), sched2.step()
    assert (
        opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(warm_restart_lr(23, **PAPER))
    )


def test_rejects_bad_settings():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError):
        WarmRestartCosine(opt, first_cycle=5, warmup=5)
