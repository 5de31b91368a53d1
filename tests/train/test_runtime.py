import pytest
import torch

from sclong.train.runtime import autocast_dtype


def test_precision_bf16_on_cuda_fp32_on_cpu_unless_asked():
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("auto", torch.device("cuda", 0)) is torch.bfloat16
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert autocast_dtype("fp32", torch.device("cuda", 0)) is None
    with pytest.raises(ValueError):
        autocast_dtype("fp16", torch.device("cpu"))
