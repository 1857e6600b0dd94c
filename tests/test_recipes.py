"""recipes/: one portable script per shipped model, the same commands as its card, kept in step with checkpoints/."""

import json
import re
import subprocess

from core import recipes
from core.checkpoint import CHECKPOINTS_DIR, build_config, save_checkpoint
from core.models import create_model

# a path from the root (or the home folder) anywhere but the shebang: after a space, a quote, "=" or "("
ABSOLUTE = re.compile(r"""(^|[\s'"=(])[/~]""")


def test_the_recipes_in_the_tree_are_what_the_checkpoints_say_now():
    wanted = recipes.render(CHECKPOINTS_DIR)
    stale = [name for name, text in wanted.items()
             if not (recipes.RECIPES_DIR / name).is_file() or (recipes.RECIPES_DIR / name).read_text() != text]
    extra = [p.name for p in recipes.RECIPES_DIR.glob("*.sh") if p.name not in wanted]
    assert not stale and not extra, f"run python -m core.recipes (out of date: {stale + extra})"
    assert {p.name for p in CHECKPOINTS_DIR.iterdir() if (p / "config.json").is_file()} == \
        {n.removesuffix(".sh") for n in wanted if n.endswith(".sh")}


def test_recipes_run_anywhere():
    for path in sorted(recipes.RECIPES_DIR.glob("*.sh")):
        text = path.read_text()
        lines = text.splitlines()
        assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines, path
        assert "PYTHON=${PYTHON:-python}" in lines and "pgrep" not in text, path
        # a time limit stays only where it decided how many epochs the shipped network had, and the script says so
        assert "--max-minutes" not in text or "stopped at its --max-minutes limit" in text, path
        assert not [line for line in lines[1:] if ABSOLUTE.search(line)], f"{path} holds an absolute path"
        assert subprocess.run(["bash", "-n", str(path)]).returncode == 0, f"{path} is not valid bash"


def test_a_recipe_names_its_data_and_trains_an_ensembles_members_before_combining_them(tmp_path):
    model = create_model("resnet", 2, 32, widths=(8, 16), stem_width=8)
    config = build_config("resnet", {"widths": [8, 16], "stem_width": 8}, ["a", "b"], 32, [0.5] * 3, [0.25] * 3,
                          dataset={"source": "/somewhere/else/toys-train-jpg.tar.gz"})
    member = {"arch": "resnet", "source": "toys-seed1", "train_seconds": 120.0,
              "recipe": {"data": "/somewhere/else/toys-train-jpg.tar.gz", "epochs": 3, "seed": 1, "max_minutes": 9.0}}
    config.update(members=[{**member, "source": "toys"}, member], weight_format="int8")
    folder = save_checkpoint(tmp_path / "toys-ensemble", model, config,
                             {"val": {"top1": 0.875, "n": 40}, "tta": 1, "train_seconds": 240.0})
    text = recipes.recipe(folder)
    assert "/somewhere" not in text and "--data toys-train-jpg.tar.gz" in text and "--max-minutes" not in text
    train_runs = [m.start() for m in re.finditer(r'"\$PYTHON" -m core.train', text)]
    combine = text.index('"$PYTHON" -m core.ensemble runs/toys runs/toys-seed1')
    assert len(train_runs) == 2 and max(train_runs) < combine and "--int8" in text[combine:]
    assert "87.50%" in text and "4 minutes" in text

    single = save_checkpoint(tmp_path / "toys-single", model, {**config, "members": [], "weight_format": None,
                                                              "recipe": {**member["recipe"], "epochs": 7}},
                             {"val": {"top1": 0.875, "n": 40}, "stopped_early": "time limit", "epochs_run": 6})
    text = recipes.recipe(single)
    assert "--max-minutes 9" in text and "stopped at its --max-minutes limit after 6 of 7 epochs" in text
    assert json.loads((folder / "config.json").read_text())["members"][1]["source"] == "toys-seed1"
