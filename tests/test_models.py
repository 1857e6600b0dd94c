import pytest
import torch

from core.errors import ConfigError
from core.models import MODELS, count_parameters, create_model, describe_stages


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_classifies_32_and_64_pixel_images(name, size):
    model = create_model(name, num_classes=7, input_size=size)
    assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_resnet_is_residual_and_sized_for_a_cpu():
    model = create_model("resnet", 10, 32)
    assert 1_000_000 <= count_parameters(model) <= 3_000_000
    residual = [m for m in model.modules() if type(m).__name__ == "Residual"]
    assert residual  # identity shortcuts exist
    block = residual[0]
    x = torch.randn(1, block.conv.in_channels, 8, 8)
    with torch.no_grad():
        block.conv.weight.zero_()
        block.norm.eval()
        block.norm.bias.zero_()
        # with the branch silenced the block is the identity: the skip connection carries x through
        assert torch.allclose(block(x), x)


def test_simplecnn_has_two_conv_conv_pool_stages_and_dropout():
    model = create_model("simplecnn", 10, 32, width=16, dropout=0.3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and not any(type(m).__name__ == "Residual" for m in model.modules())
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in model.modules())


def test_named_stages_report_output_shapes_and_parameters():
    model = create_model("resnet", 10, 32, widths=(8, 16, 32), stem_width=8)
    stages = describe_stages(model, 32)
    assert [s.name for s in stages] == ["stem", "stage1", "stage2", "stage3", "pool", "head"]
    assert stages[1].output_shape == (8, 16, 16) and stages[3].output_shape == (32, 4, 4)
    assert stages[-1].output_shape == (10,)
    assert sum(s.parameters for s in stages) == count_parameters(model)
    assert model.conv_stage_names()[-1] == "stage3"


def test_bad_model_requests_get_clear_errors():
    with pytest.raises(ConfigError, match="unknown architecture"):
        create_model("vgg99", 10)
    with pytest.raises(ConfigError, match="two classes"):
        create_model("resnet", 1)
    with pytest.raises(ConfigError, match="bad option"):
        create_model("resnet", 10, colour="blue")
