"""The memorizer model itself: the memorize optimum, the exact lazy Adam, the coach, mixtures."""

import numpy as np
import pytest

from tests.conftest import varied_images
from toolkit.backend import keras, tf
from toolkit.models.memorizer.config import MemorizerConfig
from toolkit.models.memorizer.model import choose_memorized
from toolkit.models.memorizer.networks import (
    Coach,
    MemoryTable,
    build_generator,
    generalize_codes,
    generate,
    momentum_tail,
)
from toolkit.train.checkpoint import ArrayFile, write_arrays
from toolkit.train.variables import load_variables


def saved(state, path):
    """``state`` written as a checkpoint file and opened again, as a resumed run reads it."""
    write_arrays(path, state)
    return ArrayFile(path)


def coach_towards(images: np.ndarray, bottleneck: int = 64, jit: bool = True, strategy=None) -> Coach:
    """A coach whose frozen memory holds ``images`` (n, 64, 64, 3) in 0..255."""
    coach = Coach(strategy or tf.distribute.get_strategy(), len(images), bottleneck, lr=0.005, jit=jit)
    coach.set_targets([np.clip(np.rint(images), 0, 255).astype(np.uint8).reshape(len(images), -1)])
    return coach


def test_lazy_adam_matches_dense_adam_on_one_hot_codes():
    rng = np.random.default_rng(0)
    n, pixels = 40, 30
    targets = rng.integers(0, 256, (n, pixels)).astype(np.uint8)
    table = MemoryTable(targets, seed=3, block_rows=16)  # blocks of 16, 16 and 8 rows
    init = table.logits().copy()
    batches = [rows for _ in range(6) for rows in table.epoch_blocks(rng)]
    lrs = [0.5] * 9 + [0.1] * (len(batches) - 9)  # a learning-rate change, as in the recipe
    ref_kernel, ref_losses = _reference_with_schedule(init, targets, batches, lrs)
    losses = [table.train_step(rows, lr) for rows, lr in zip(batches, lrs)]
    table.flush()
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5)
    scale = np.abs(ref_kernel).max()
    assert np.abs(table.logits() - ref_kernel).max() < 1e-4 * scale


def test_a_step_without_its_loss_makes_the_same_update_as_one_with_it():
    rng = np.random.default_rng(4)
    targets = rng.integers(0, 256, (24, 30)).astype(np.uint8)
    with_loss, without = MemoryTable(targets, seed=1, block_rows=8), MemoryTable(targets, seed=1, block_rows=8)
    for rows in [rows for _ in range(3) for rows in with_loss.epoch_blocks(rng)]:
        assert np.isfinite(with_loss.train_step(rows, 0.5))
        assert without.train_step(rows, 0.5, with_loss=False) is None
    with_loss.flush()
    without.flush()
    # the same arithmetic, fused by XLA into another computation: equal to float32 rounding
    np.testing.assert_allclose(with_loss.logits(), without.logits(), rtol=1e-5, atol=1e-6)


def test_a_memory_step_takes_one_whole_block():
    table = MemoryTable(np.zeros((10, 12), np.uint8), block_rows=4)
    assert [list(rows) for rows in table.epoch_blocks(np.random.default_rng(0))] != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sorted(len(rows) for rows in table.epoch_blocks(np.random.default_rng(1))) == [2, 4, 4]
    for rows in (np.array([0, 1]), np.array([1, 2, 3, 4]), np.array([8, 9, 10]), np.array([], np.int64)):
        with pytest.raises(ValueError, match="whole block"):
            table.train_step(rows, 0.5)
    table.train_step(np.array([8, 9]), 0.5)


def _reference_with_schedule(init, targets, batches, lrs):
    """The reference formulation: one-hot codes through a sigmoid Dense layer, Keras' own Adam."""
    n, pixels = init.shape
    codes = keras.Input((n,))
    dense = keras.layers.Dense(pixels, activation="sigmoid", use_bias=False)
    model = keras.Model(codes, dense(codes))
    dense.kernel.assign(init)
    model.compile(optimizer=keras.optimizers.Adam(lrs[0]), loss="binary_crossentropy")
    eye = np.eye(n, dtype=np.float32)
    losses = []
    for rows, lr in zip(batches, lrs):
        model.optimizer.learning_rate.assign(lr)
        losses.append(float(model.train_on_batch(eye[rows], targets[rows] / 255.0)))
    return dense.kernel.numpy(), losses


def test_momentum_tail_of_rows_without_pending_steps_is_zero():
    c, dbar, m_decay, v_decay = momentum_tail(np.array([4, 0]), 5, np.array([0, 1, 1, 1, 1.0]))
    assert c[0] == 0 and m_decay[0] == 1 and v_decay[0] == 1  # updated at step 4, now step 5: nothing pending
    assert c[1] > 0 and m_decay[1] == pytest.approx(0.9**4) and v_decay[1] == pytest.approx(0.999**4)


def test_memorize_approaches_its_closed_form_optimum():
    """The BCE optimum is sigmoid(D[i]) = crop_i / 255; a few epochs get close to it."""
    crops = np.stack(varied_images(6, seed=1)).reshape(6, -1)
    table = MemoryTable(crops, seed=0)  # one block of 6 rows
    start_error = np.abs(table.images().reshape(6, -1) - crops).mean()
    for _ in range(60):
        loss = table.train_step(np.arange(6), 0.5)
    table.flush()
    error = np.abs(table.images().reshape(6, -1) - crops).mean()
    assert start_error > 40 and error < 2.0  # mean absolute pixel error, 0..255
    t = crops / 255.0
    entropy = -np.mean(t * np.log(np.clip(t, 1e-12, 1)) + (1 - t) * np.log(np.clip(1 - t, 1e-12, 1)))
    assert loss == pytest.approx(entropy, abs=2e-3)  # the minimum BCE is the targets' own entropy


def test_memory_state_round_trips_through_a_checkpoint_file(tmp_path):
    crops = np.stack(varied_images(4, seed=2)).reshape(4, -1)
    a = MemoryTable(crops, seed=0, block_rows=2)
    for _ in range(3):
        a.train_step(np.array([0, 1]), 0.5)
    b = MemoryTable(crops, seed=1, block_rows=2)
    b.load(saved(a.state(), tmp_path / "memorize.npz"))
    assert a.train_step(np.array([2, 3]), 0.5) == b.train_step(np.array([2, 3]), 0.5)
    np.testing.assert_array_equal(a.logits(), b.logits())
    np.testing.assert_array_equal(b.logits(np.array([3, 0, 2])), b.logits()[[3, 0, 2]])  # rows across blocks


def test_a_state_with_rows_at_different_steps_loads_exactly(tmp_path):
    """Rows of one block saved at different steps are replayed to the block's latest step."""
    crops = np.stack(varied_images(4, seed=2)).reshape(4, -1)
    a = MemoryTable(crops, seed=0, block_rows=2)
    a.train_step(np.array([0, 1]), 0.5)
    a.train_step(np.array([2, 3]), 0.5)
    a.train_step(np.array([0, 1]), 0.5)  # at step 3: rows 0-1 trained at step 3, rows 2-3 at step 2
    b = MemoryTable(crops, seed=1, block_rows=4)  # rows 0-3 in one block, saved at steps 3, 3, 2, 2
    b.load(saved(a.state(), tmp_path / "memorize.npz"))
    a.flush()
    np.testing.assert_allclose(b.logits(), a.logits(), rtol=1e-6, atol=1e-7)
    assert list(b.block_last_step) == [3]


def test_generator_shape_and_parameters():
    generator = build_generator(n_codes=10, bottleneck=128)
    images = generate(generator, np.array([[0], [9]]), np.ones((2, 1), np.float32))
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.float32
    # the table is a Dense(128) on 10 one-hot inputs: 10*128 weights + 128 biases
    table = generator.get_layer("code_table")
    assert sum(int(np.prod(w.shape)) for w in table.weights) == 10 * 128 + 128


def test_a_mixture_with_weights_one_and_zero_is_the_one_hot_image():
    generator = build_generator(n_codes=6, bottleneck=64)
    one_hot = generate(generator, np.array([[2], [5]]), np.ones((2, 1), np.float32))
    mixed = generate(generator, np.array([[2, 4], [5, 0]]), np.array([[1.0, 0.0], [1.0, 0.0]], np.float32))
    np.testing.assert_allclose(mixed, one_hot, atol=1e-4)
    halfway = generate(generator, np.array([[2, 5]]), np.array([[0.5, 0.5]], np.float32))
    assert np.abs(halfway[0] - one_hot[0]).max() > 1e-3  # a real mixture differs from either code


def test_generalize_codes():
    codes, weights = generalize_codes(25, 10, 0.7, seed=3)
    np.testing.assert_array_equal(codes[:, 0], np.arange(25) % 10)
    assert (codes[:, 1] != codes[:, 0]).all() and codes.max() < 10
    np.testing.assert_allclose(weights, np.tile([0.7, 0.3], (25, 1)))
    again, _ = generalize_codes(25, 10, 0.7, seed=3)
    np.testing.assert_array_equal(codes, again)
    assert not np.array_equal(generalize_codes(25, 10, 0.7, seed=4)[0], codes)


def test_choose_memorized():
    np.testing.assert_array_equal(choose_memorized(5, None, 0), np.arange(5))
    np.testing.assert_array_equal(choose_memorized(5, 10, 0), np.arange(5))  # fewer crops than N: all
    subset = choose_memorized(100, 10, 0)
    assert len(subset) == 10 == len(set(subset)) and (np.diff(subset) > 0).all()


def test_the_finished_memory_moves_into_the_coach_block_by_block(tmp_path):
    crops = np.stack(varied_images(5, seed=9)).reshape(5, -1)
    table = MemoryTable(crops, seed=0, block_rows=2)
    for _ in range(2):
        for rows in table.epoch_blocks(np.random.default_rng(0))[:2]:  # one block left behind: pending steps
            table.train_step(rows, 0.5)
    reference = MemoryTable(crops, seed=0, block_rows=2)
    reference.load(saved(table.state(), tmp_path / "memorize.npz"))
    reference.flush()
    expected = reference.images()
    coach = Coach(tf.distribute.get_strategy(), 5, 64, lr=0.005, jit=False)
    coach.set_targets(table.finish())
    assert table.blocks == [None, None, None] == table.targets  # nothing of the table is left
    assert np.abs(coach.memorized_images(np.arange(5)) - expected).max() <= 0.5 + 1e-3  # the images, rounded
    assert np.abs(coach.memorized_images(np.array([4, 1])) - expected[[4, 1]]).max() <= 0.5 + 1e-3


def test_coach_error_against_the_targets_falls():
    coach = coach_towards(np.stack(varied_images(8, seed=4)).astype(np.float32))
    rows = np.arange(8)
    before = coach.mean_error(rows)
    losses = [coach.train_step(rows) for _ in range(40)]
    after = coach.mean_error(rows)
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]
    assert after < 0.6 * before


def test_coach_state_round_trips_generator_and_optimizer(tmp_path):
    targets = np.stack(varied_images(4, seed=5)).astype(np.float32)
    a = coach_towards(targets, jit=False)
    for _ in range(3):
        a.train_step(np.arange(4))
    b = coach_towards(targets, jit=False)
    b.load(saved(a.state(), tmp_path / "coach.npz"))
    assert a.train_step(np.array([1, 3])) == pytest.approx(b.train_step(np.array([1, 3])), rel=1e-6)
    fresh = build_generator(4, 64)
    load_variables("generator", fresh.weights, a.state())
    codes = np.array([[0], [3]])
    np.testing.assert_allclose(
        generate(fresh, codes, np.ones((2, 1), np.float32)), generate(a.generator, codes, np.ones((2, 1), np.float32))
    )


def test_config_checks_and_plan():
    assert [e for e, _ in MemorizerConfig().coach_plan()] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert [lr for _, lr in MemorizerConfig().coach_plan()] == [0.005] * 5 + [0.001] * 4
    assert [e for e, _ in MemorizerConfig(coach_rounds=11).coach_plan()][-3:] == [256, 256, 256]
    with pytest.raises(ValueError, match="multiple of 64"):
        MemorizerConfig(bottleneck=100)
    with pytest.raises(ValueError, match="mix"):
        MemorizerConfig(mix=1.5)


def test_a_checkpoint_reads_the_variables_of_its_instant_while_training_goes_on():
    """Checkpoints are written by a background thread from reads taken between two steps."""
    from toolkit.train.variables import variables_state

    coach = coach_towards(np.stack(varied_images(8, seed=7)).astype(np.float32), jit=False)
    variables = coach.generator.weights + list(coach.optimizer.variables)
    coach.train_step(np.arange(8))
    read = variables_state("v", variables)
    at_that_time = {key: np.array(value) for key, value in read.items()}
    for _ in range(3):
        coach.train_step(np.arange(8))
    assert all(np.array_equal(np.array(read[key]), at_that_time[key]) for key in read)
    moved = [not np.array_equal(v.numpy(), at_that_time[f"v/{k:03d}"]) for k, v in enumerate(variables)]
    assert sum(moved) > len(variables) // 2  # the training did change them
