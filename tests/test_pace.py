"""The time a budget keeps for packing: measured by a trial pack, and the accounting built on it."""

import time
from pathlib import Path

import numpy as np
import pytest

from toolkit.errors import BudgetTooSmall
from toolkit.train.budget import Deadline
from toolkit.train.pace import TRIAL_NAME, PackPace, PackWatch, measure_pack_pace, process_age, standin_images


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TimedSampler:
    """Batches of flat images whose generation takes ``first``, then ``steady`` seconds of a fake clock
    (``tail`` for a batch smaller than the others), and which records the batch sizes asked for."""

    def __init__(self, clock: FakeClock, first: float, steady: float, tail: float):
        self.clock, self.first, self.steady, self.tail = clock, first, steady, tail
        self.sizes: list[int] = []

    def sample(self, count: int, seed: int, batch: int = 256):
        for start in range(0, count, batch):
            n = min(batch, count - start)
            self.clock.now += self.first if not self.sizes else self.steady if n == batch else self.tail
            self.sizes.append(n)
            yield np.full((n, 64, 64, 3), 128.0, np.float32)


def test_the_trial_pack_times_warm_up_steady_batches_and_the_smaller_last_one(tmp_path):
    clock = FakeClock()
    sampler = TimedSampler(clock, first=5.0, steady=1.0, tail=0.5)
    standins = np.zeros((4, 64, 64, 3), np.uint8)
    pace = measure_pack_pace(lambda: sampler, 10_000, tmp_path, standins, process_s=7.0, clock=clock)
    # one compiling batch, three steady ones, and one of 10,000 % 256 = 16 images, as pack ends
    assert sampler.sizes == [256, 256, 256, 256, 16]
    assert (pace.batch_s, pace.warmup_s, pace.tail_s, pace.process_s) == (1.0, 4.0, 0.5, 7.0)
    assert pace.images_per_second() == pytest.approx(10_000 / 39.5)
    # pack: 7 s to start, 39 full batches (the first 4 s slower), the last small one
    assert pace.seconds() == pytest.approx(7.0 + 4.0 + 39 * 1.0 + 0.5)
    assert not (tmp_path / TRIAL_NAME).exists() and not list(tmp_path.iterdir())  # the trial zip is gone


def test_a_count_of_whole_batches_has_no_tail(tmp_path):
    clock = FakeClock()
    sampler = TimedSampler(clock, first=2.0, steady=0.25, tail=9.0)
    pace = measure_pack_pace(lambda: sampler, 512, tmp_path, np.zeros((1, 64, 64, 3), np.uint8), clock=clock)
    assert sampler.sizes == [256, 256] and pace.tail_s == 0.0
    assert pace.seconds() == pytest.approx(1.75 + 2 * 0.25)


def test_a_recorded_pace_estimates_packing_another_count(tmp_path):
    clock = FakeClock()
    sampler = TimedSampler(clock, first=5.0, steady=1.0, tail=0.5)
    pace = measure_pack_pace(lambda: sampler, 10_000, tmp_path, np.zeros((1, 64, 64, 3), np.uint8), clock=clock)
    pace = PackPace.from_dict({**pace.to_dict(), "finish_s": 2.0})  # as timing.json keeps it
    assert pace.for_count(10_000) == pace
    whole = pace.for_count(512)  # two full batches, no smaller last one, a 512/10,000 share of closing
    assert whole.seconds() == pytest.approx(4.0 + 2 * 1.0 + 2.0 * 512 / 10_000)
    assert whole.for_count(300).tail_s == pytest.approx(4.0 + 44 / 256)  # no tail measured: traced as the first


def test_standins_are_the_slower_to_encode_of_sharp_crops_and_blurred_blends():
    noise = np.random.default_rng(0).integers(0, 256, size=(40, 64, 64, 3), dtype=np.uint8)
    standins = standin_images(noise, count=16)
    assert standins.shape == (16, 64, 64, 3) and standins.dtype == np.uint8

    def roughness(images):
        return np.abs(np.diff(images.astype(np.int16), axis=2)).mean()

    # noise encodes about 5x faster than the smooth images blurring makes of it: the blurred ones win
    assert roughness(standins) < roughness(noise) / 4
    assert standin_images(np.full((1, 64, 64, 3), 7, np.uint8), count=5).shape == (5, 64, 64, 3)  # one crop


def test_process_age_counts_from_this_process_start():
    age = process_age()
    if age is None:
        pytest.skip("no /proc/self/stat here")
    before = age
    time.sleep(0.05)
    assert 0 < before < process_age()  # it grows with time


def fixed_pace(seconds: float) -> PackPace:
    return PackPace(count=10_000, batch=10_000, process_s=seconds, build_s=0, warmup_s=0, batch_s=0.0, tail_s=0,
                    finish_s=0)  # fmt: skip


def test_a_budget_leaving_less_than_the_least_training_is_refused_naming_the_budget_that_would_do():
    from toolkit.train.loop import TrainConfig, plan

    started = time.monotonic() - 30.0  # 30 s spent starting
    config = TrainConfig(budget_s=100.0, min_train_s=60.0)
    with pytest.raises(BudgetTooSmall) as refused:
        plan(config, Deadline(100.0, started), fixed_pace(20.0))
    # 60 s training + 1.2 x (30 s started + 20 s packing + 3 s margin) = 123.6 s, rounded up to 125 s
    assert refused.value.needed_s == 125.0 and refused.value.exit_code == 2
    assert "budget 1m40s is too small to train here" in str(refused.value)
    assert "a budget of at least 2m05s trains for 1m00s" in str(refused.value)
    assert "generating and packing 10000 images takes about 20.0s" in str(refused.value)


def test_a_budget_keeps_what_packing_takes_and_a_margin():
    from toolkit.train.loop import TrainConfig, plan

    started = time.monotonic() - 30.0
    deadline, train_deadline, reserved = plan(TrainConfig(budget_s=1000.0), Deadline(1000.0, started), fixed_pace(20.0))
    assert reserved == pytest.approx(20.0 + 10.0)  # 1% of the budget once that is over 3 s
    assert deadline.seconds == 1000.0
    assert train_deadline.at == pytest.approx(started + 1000.0 - 30.0)


def test_a_training_time_decides_the_budget_from_the_measured_pace():
    from toolkit.train.loop import TrainConfig, plan

    started = time.monotonic() - 30.0
    deadline, train_deadline, reserved = plan(TrainConfig(train_s=60.0), Deadline(0.0, started), fixed_pace(20.0))
    assert train_deadline.left() == pytest.approx(60.0, abs=0.5)
    assert reserved == pytest.approx(23.0)
    assert deadline.seconds == pytest.approx(30.0 + 60.0 + 23.0, abs=0.5)


def test_the_trial_runs_through_a_real_sampler(tmp_path):
    """A memorizer's sampler built from its state in memory (as the loop builds it) packs a trial."""
    from toolkit.backend import tf
    from toolkit.data.crops import TrainingData
    from toolkit.models.memorizer.config import MemorizerConfig
    from toolkit.models.memorizer.model import Memorizer
    from toolkit.train.checkpoint import StateArrays

    images = np.random.default_rng(1).integers(0, 256, size=(40, 64, 64, 3), dtype=np.uint8)
    data = TrainingData(images, np.full(40, "b"), Path("x"), "")
    config = MemorizerConfig(bottleneck=64, batch_size=8)
    model = Memorizer(config, data, tf.distribute.get_strategy(), np.random.default_rng(0), False)
    pace = measure_pack_pace(
        lambda: Memorizer.sampler(config, StateArrays.of(model.state())), 600, tmp_path, images[:8]
    )
    assert pace.batch == 256 and pace.batch_s > 0 and pace.tail_s > 0 and pace.seconds() > 0
    assert list(tmp_path.iterdir()) == []


def watched_pack(planned_per_s: float, actual_per_s: float, budget_s: float, count: int = 10_000) -> list[str]:
    """The lines a PackWatch says over a pack of ``count`` images written at ``actual_per_s``, planned at
    ``planned_per_s``, starting as the job's budget of ``budget_s`` starts."""
    clock = FakeClock()
    planned = PackPace(count, 256, 0.0, 0.0, 0.0, 256 / planned_per_s, count % 256 / planned_per_s, 0.0)
    lines: list[str] = []
    watch = PackWatch(count, planned, Deadline(budget_s, clock.now), lines.append, clock=clock)
    for _ in range(count):
        clock.now += 1 / actual_per_s
        watch.update(1)
    return lines


def test_packing_at_the_planned_pace_within_the_budget_says_nothing():
    assert watched_pack(planned_per_s=1000, actual_per_s=1000, budget_s=11) == []
    assert watched_pack(planned_per_s=1000, actual_per_s=900, budget_s=100) == []  # within a fifth of the plan


def test_packing_slower_than_planned_says_so_once():
    [line] = watched_pack(planned_per_s=1000, actual_per_s=400, budget_s=1000)
    assert line.startswith("pack: slower than planned: 400 images/s against 1,000 measured before training"), line
    assert line.endswith("about 20.0s to go"), line  # at the second check: 8,000 images left


def test_packing_that_will_overrun_the_budget_says_by_how_much_as_soon_as_it_knows():
    slower, overrun = watched_pack(planned_per_s=1000, actual_per_s=400, budget_s=20)
    assert "slower than planned" in slower
    # at 2,000 images, 5 s in: 20 s to go, so the job ends at 25 s, 5 s past its 20 s budget
    assert overrun == (
        "pack: at 400 images/s this job will end about 5.0s past its budget of 20.0s (at 25.0s; "
        "the budget allows 5% over)"
    )
    assert watched_pack(planned_per_s=400, actual_per_s=400, budget_s=24) == []  # 25 s: within 5% over
