"""The model seam and the layers: a model is handed to the loop (no registry line needed), the
protocol is all the loop reads, and imports run one way."""

from pathlib import Path

from submission import validate_zip
from tests.conftest import latest, write_crop_cache
from tests.tiny_gan import TINY_GAN
from toolkit import models
from toolkit.pack.from_run import pack_run
from toolkit.train.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("toolkit", "submission", "kernel")


def test_a_model_handed_to_the_loop_trains_and_packs_without_a_registry_line(tmp_path):
    cache = write_crop_cache(tmp_path / "crops.npz", 48, seed=2)
    result = train(TrainConfig(data=cache, run=tmp_path / "run", budget_s=600), TINY_GAN, {"epochs": 2})
    assert result.complete and result.trained and result.epochs == 2 and result.steps == 2 * 3
    assert "tiny-gan" not in models.MODELS
    packed = pack_run(tmp_path / "run", tmp_path / "images.zip", 300, model=TINY_GAN)
    assert packed.trained and packed.seed == 0 and validate_zip(tmp_path / "images.zip", count=300).ok
    grids = sorted((tmp_path / "run" / "samples").glob("*.png"))
    assert [g.name for g in grids] == ["00002_epoch.png"]  # the phase's end: grid_every_epoch is off


def module_imports() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports anywhere, and their parent packages
    (importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too), but for its own packages
    (Python runs those before the module itself, whatever it imports)."""
    from toolkit.kaggle.bundle import _imports, _module_path

    graph = {}
    for path in sorted(ROOT.glob("*/**/*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] not in PACKAGES:
            continue
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = set()
        for name in _imports(module, path):
            while name and _module_path(ROOT, name) is None:  # `from pkg.mod import function`
                name = name.rpartition(".")[0]
            pieces = name.split(".")
            found.update(".".join(pieces[:k]) for k in range(1, len(pieces) + 1))
        own = {".".join(parts[:k]) for k in range(1, len(parts))}
        graph[module] = found - own - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(module_imports()) == []


def test_imports_run_one_way_between_the_layers():
    graph = module_imports()

    def imports_of(prefix: str) -> set[str]:
        return {name for module, names in graph.items() if module.startswith(prefix) for name in names}

    assert not {n for n in imports_of("toolkit") | imports_of("submission") if n.startswith("kernel")}
    assert not {n for n in imports_of("submission") if n.startswith("toolkit")}
    below_the_models = {n for n in imports_of("toolkit.train") if n.startswith(("toolkit.models", "toolkit.pack"))}
    assert below_the_models == set(), "the loop is handed its model; it never reads the registry"
    assert "toolkit.train.loop" not in imports_of("toolkit.models"), "a model never imports the loop"


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_default_strategy_trial_times_the_first_phases_step():
    """A model without its own strategy_probe is timed (one GPU against mirrored) on its first phase's step."""
    import numpy as np

    from tests.conftest import varied_images
    from tests.tiny_gan import TinyGan, TinyGanConfig
    from toolkit.backend import tf
    from toolkit.data.crops import TrainingData
    from toolkit.train.distribute import first_phase_probe, seconds_per_step

    data = TrainingData(np.stack(varied_images(40, seed=1)), np.full(40, "x"), None, "")
    step = first_phase_probe(TinyGan, TinyGanConfig(batch_size=8), data, jit=False)(tf.distribute.get_strategy())
    assert seconds_per_step(step, warmup=1, steps=2) > 0


def test_the_loop_seeds_the_model_it_builds(tmp_path):
    """The same seed gives the same run, whatever the global random state before; another seed, another."""
    import numpy as np

    from toolkit.backend import keras
    from toolkit.train.checkpoint import ArrayFile

    cache = write_crop_cache(tmp_path / "crops.npz", 16, seed=2)

    def generator_after_one_epoch(seed: int, name: str) -> list:
        keras.utils.set_random_seed(99 + seed)  # whatever the global state before
        np.random.random(5)
        train(TrainConfig(data=cache, run=tmp_path / name, budget_s=600), TINY_GAN, {"epochs": 1, "seed": seed})
        record = latest(tmp_path / name)
        with ArrayFile(tmp_path / name / "checkpoints" / record["parts"]["gan"]) as arrays:
            return [arrays[key] for key in arrays.keys() if key.startswith("generator/")]

    first, again, other = (generator_after_one_epoch(s, n) for s, n in ((0, "a"), (0, "b"), (1, "c")))
    assert all(np.allclose(x, y, rtol=0, atol=1e-6) for x, y in zip(first, again, strict=True))
    assert not all(np.allclose(x, y, rtol=0, atol=1e-3) for x, y in zip(first, other, strict=True))
