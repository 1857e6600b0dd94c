import torch

from core.augment import batch_flip_alternating, batch_mixup, batch_scale_crop, parse_augment


def test_alternating_flip_shows_each_image_both_ways_round_in_consecutive_epochs():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    flipped = torch.tensor([True, False])
    even, odd = batch_flip_alternating(images, flipped, 0), batch_flip_alternating(images, flipped, 1)
    assert torch.equal(even[0], images[0].flip(-1)) and torch.equal(even[1], images[1])
    assert torch.equal(odd[0], images[0]) and torch.equal(odd[1], images[1].flip(-1))
    assert torch.equal(batch_flip_alternating(images, flipped, 2), even)


def test_altflip_is_a_known_augmentation():
    assert parse_augment("altflip,translate") == ["altflip", "translate"]


def test_scale_crop_zooms_into_a_box_of_each_image_and_keeps_shape_and_dtype():
    ramp = torch.linspace(0, 255, 32).round().to(torch.uint8)  # brightness grows left to right
    images = ramp.view(1, 1, 1, 32).expand(64, 3, 32, 32).contiguous()
    gen = torch.Generator().manual_seed(0)
    out = batch_scale_crop(images, 0.25, gen)
    assert out.shape == images.shape and out.dtype == torch.uint8
    rows = out[:, 0, 16].float()
    assert bool((rows.diff(dim=1) >= 0).all())  # a crop, never a mirror or a rotation
    spans = rows[:, -1] - rows[:, 0]
    assert bool((spans <= 255).all()) and spans.mean() < 0.9 * 255  # zoomed in: each row covers part of the ramp
    assert len({round(float(s)) for s in spans}) > 10  # a different box per image
    whole = batch_scale_crop(images, 1.0, torch.Generator().manual_seed(0))
    assert (whole[:, 0, 16, -1].float() - whole[:, 0, 16, 0].float()).min() > 0.7 * 255  # min area 1: (almost) all


def test_scale_is_a_known_augmentation():
    assert parse_augment("flip,scale") == ["flip", "scale"]


def test_cutmix_pastes_a_box_and_mixes_labels_or_soft_targets_by_its_area():
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 3, 16, 16).contiguous()  # image i is all i
    y = torch.arange(8) % 4
    soft = torch.softmax(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    for targets in (y, soft):
        mixed, target = batch_mixup(x, targets, 4, 1.0, torch.Generator().manual_seed(3))
        assert torch.allclose(target.sum(1), torch.ones(8))
        base = soft if targets is soft else torch.nn.functional.one_hot(y, 4).float()
        for i in range(8):
            values = mixed[i, 0].unique()
            own = float((mixed[i, 0] == i).float().mean())  # the share of the image still its own
            if len(values) == 1:  # no box, or paired with itself: its own target (up to rounding of lam * t + (1 - lam) * t)
                assert torch.allclose(target[i], base[i], atol=1e-6)
            else:  # the target is the area-weighted mix of the two images' targets
                other = int(values[values != i][0])
                assert torch.allclose(target[i], own * base[i] + (1 - own) * base[other], atol=1e-6)
