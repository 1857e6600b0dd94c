import torch

from core.augment import batch_flip_alternating, parse_augment


def test_alternating_flip_shows_each_image_both_ways_round_in_consecutive_epochs():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    flipped = torch.tensor([True, False])
    even, odd = batch_flip_alternating(images, flipped, 0), batch_flip_alternating(images, flipped, 1)
    assert torch.equal(even[0], images[0].flip(-1)) and torch.equal(even[1], images[1])
    assert torch.equal(odd[0], images[0]) and torch.equal(odd[1], images[1].flip(-1))
    assert torch.equal(batch_flip_alternating(images, flipped, 2), even)


def test_altflip_is_a_known_augmentation():
    assert parse_augment("altflip,translate") == ["altflip", "translate"]
