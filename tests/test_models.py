import pytest
import torch

from core.errors import ConfigError
from core.models import MODELS, Whitening, count_parameters, create_model, describe_stages, fit_to_data


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


def test_whitening_stem_decorrelates_the_patches_it_was_fitted_on():
    model = create_model("resnet", 10, 32, widths=(8, 16, 16), stem="whiten")
    whiten = model.stem[0]
    assert isinstance(whiten, Whitening) and not whiten.weight.requires_grad  # frozen; only its bias may train
    # images whose neighbouring pixels and channels are strongly correlated, as in photos
    base = torch.randn(64, 1, 17, 17).repeat_interleave(2, -1).repeat_interleave(2, -2)[..., :32, :32]
    images = base.expand(-1, 3, -1, -1) + 0.1 * torch.randn(64, 3, 32, 32)
    fit_to_data(model, images)
    with torch.no_grad():
        out = whiten(images)[:, :12]  # the first half; the second is its negative
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = flat.T @ flat / len(flat)
    assert torch.allclose(cov, torch.eye(12), atol=0.05)
    assert model(images[:2]).shape == (2, 10)


def test_dirac_init_passes_the_input_through_the_first_channels():
    model = create_model("resnet", 10, 32, widths=(8, 16, 16), stem_width=8, dirac=True, shortcut=False)
    conv = model.stage1.conv
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        assert torch.allclose(conv(x)[:, :8], x)
    assert not any(type(m).__name__ == "Residual" for m in model.modules())  # shortcut=False: airbench's plain units


def test_unknown_stem_is_a_clear_error():
    with pytest.raises(ConfigError, match="stem"):
        create_model("resnet", 10, stem="fft")


def test_group_shortcut_puts_one_skip_connection_around_the_stage_units():
    model = create_model("resnet", 10, 32, widths=(8, 16), depth=2, stem_width=8, shortcut="group")
    groups = [m for m in model.modules() if type(m).__name__ == "GroupResidual"]
    assert len(groups) == 2 and not any(type(m).__name__ == "Residual" for m in model.modules())
    group = groups[0].eval()
    convs = [m for m in group.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2  # depth convolutions inside the one skip
    x = torch.randn(1, 8, 6, 6).abs()
    with torch.no_grad():
        convs[-1].weight.zero_()
        group.body[-1].bias.zero_()
        # with the last convolution silenced the unit is GELU(x): the skip carries x around both convolutions
        assert torch.allclose(group(x), torch.nn.functional.gelu(x))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ConfigError, match="shortcut"):
        create_model("resnet", 10, shortcut="sometimes")
