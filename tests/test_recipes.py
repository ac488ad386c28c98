"""The recipes that rebuild each model parse, and every config and script they name is in the checkout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "training" / "recipes").glob("*.sh"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_parses_and_names_only_files_that_exist(recipe: Path) -> None:
    result = subprocess.run(["bash", "-n", str(recipe)], capture_output=True, text=True)
    assert result.returncode == 0, f"{recipe.name}: {result.stderr}"
    text = recipe.read_text()
    named = re.findall(r"(?:training/configs|training/recipes|scripts)/[A-Za-z0-9_.-]+\.(?:yaml|sh|py)", text)
    missing = sorted({n for n in named if not (ROOT / n).exists()})
    assert not missing, f"{recipe.name} names files that are not in the checkout: {missing}"


def test_the_hold_out_recipe_refuses_a_source_without_a_config_before_training() -> None:
    env = {"PATH": "/usr/bin:/bin", "SOURCE": "nosuch", "BIN": "/nonexistent"}
    result = subprocess.run(["bash", str(ROOT / "training" / "recipes" / "holdout.sh")], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "no hold-out config training/configs/holdout_nosuch.yaml" in result.stderr
    for source in ("multidogo", "star"):
        config = ROOT / "training" / "configs" / f"holdout_{source}.yaml"
        assert f"name: holdout_{source}" in config.read_text()
