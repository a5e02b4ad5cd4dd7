import dataclasses
import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from tmml_lite import COCOOP_CONFIG, TMML, CoCoOp, CoOp, TrainConfig, checkpoint, data, engine, get_task, zeroshot
from tmml_lite.checkpoint import load_tensors
from tmml_lite.metrics import accuracy, harmonic_mean, summarize
from tmml_lite.saving import learned_tensors

TASK = "shapes"
FAST = TrainConfig(epochs=4, batch_size=32)


@pytest.fixture(scope="module")
def splits(small_shapes):
    return data.base_to_new(small_shapes, shots=16, seed=1)


@pytest.fixture(scope="module")
def few_shots(small_shapes):
    """4 shots of each of the 6 base classes: the image-conditioned learners encode one prompt set per image, so
    their runs here are kept to 24 images an epoch."""
    return data.base_to_new(small_shapes, shots=4, seed=1)


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_fit_trains_only_the_learner_and_lowers_the_loss(tiny, splits):
    clip_before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    learner = CoOp(tiny, splits["train"].classnames)
    ctx_before = learner.ctx.detach().clone()
    log = engine.fit(learner, splits["train"], FAST, progress=False)
    assert all(torch.equal(v, clip_before[k]) for k, v in tiny.model.state_dict().items())
    assert not torch.equal(learner.ctx, ctx_before)
    assert len(log["losses"]) == FAST.epochs and log["losses"][-1] < log["losses"][0]


def test_fit_takes_an_optimizer_factory_with_parameter_groups(tiny, splits):
    """The seam research scripts use instead of patching the engine: a factory given parameter groups, here the
    offset of "CoOp + shared offset" frozen by a learning rate of zero while the context trains."""
    from tmml_lite.methods import SharedOffsetCoOp

    def offset_at_lr_zero(params, cfg):
        offset = [p for p in params if p.dim() == 1]
        rest = [p for p in params if p.dim() != 1]
        return engine.make_optimizer([{"params": rest}, {"params": offset, "lr": 0.0}], cfg)

    learner = SharedOffsetCoOp(tiny, splits["train"].classnames)
    ctx_before = learner.ctx.detach().clone()
    engine.fit(learner, splits["train"], replace(FAST, epochs=2), progress=False, make_optimizer=offset_at_lr_zero)
    assert torch.equal(learner.offset, torch.zeros_like(learner.offset))
    assert not torch.equal(learner.ctx, ctx_before)


def test_max_grad_norm_bounds_every_step_of_the_context(tiny, splits):
    """With the gradient norm clipped to m, no step of SGD (momentum 0.9, no weight decay) moves the context by
    more than lr * m / (1 - 0.9); unclipped, the same huge learning rate throws it far away."""
    cfg = replace(FAST, epochs=2, lr=5.0, warmup_epochs=0, weight_decay=0.0, batch_size=16)
    moved = {}
    for norm in (None, 1e-4):
        learner = CoOp(tiny, splits["train"].classnames)
        start = learner.ctx.detach().clone()
        engine.fit(learner, splits["train"], replace(cfg, max_grad_norm=norm), progress=False)
        moved[norm] = float((learner.ctx.detach() - start).norm())
    steps = cfg.epochs * -(-len(splits["train"].labels) // cfg.batch_size)
    assert 0 < moved[1e-4] <= steps * cfg.lr * 1e-4 / (1 - cfg.momentum) < 0.1 * moved[None]


@pytest.mark.parametrize("method", [CoCoOp, TMML])
def test_image_conditioned_fit_leaves_clip_untouched_and_moves_every_learned_tensor(tiny, few_shots, method):
    clip_before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    learner = method(tiny, few_shots["train"].classnames)
    before = {k: v.clone() for k, v in learned_tensors(learner).items()}
    engine.fit(learner, few_shots["train"], replace(COCOOP_CONFIG, epochs=2), progress=False)
    assert all(torch.equal(v, clip_before[k]) for k, v in tiny.model.state_dict().items())
    assert all(not torch.equal(v, before[k]) for k, v in learned_tensors(learner).items())


@pytest.mark.parametrize("method, cfg, shots", [
    (CoOp, FAST, "splits"),  # cached image features
    (CoOp, replace(FAST, augment=True), "splits"),  # augmentation draws from the RNG the checkpoint restores
    (CoCoOp, replace(COCOOP_CONFIG, epochs=2, batch_size=16), "few_shots"),
    (TMML, replace(COCOOP_CONFIG, epochs=2, batch_size=16), "few_shots"),  # cached patch tokens, CTP + TFT
])
def test_resume_after_a_stop_equals_the_uninterrupted_run_bit_for_bit(tiny, request, tmp_path, method, cfg, shots):
    splits = request.getfixturevalue(shots)
    names, stop = splits["train"].classnames, cfg.epochs // 2
    engine.fit(method(tiny, names), splits["train"], cfg, run_dir=tmp_path / "straight", progress=False)
    engine.fit(method(tiny, names), splits["train"], cfg, run_dir=tmp_path / "stopped", progress=False,
               until_epoch=stop)  # "killed" half-way, after the warm-up epoch at least
    assert json.loads((tmp_path / "stopped" / "state.json").read_text())["epoch"] == stop
    resumed = method(tiny, names)
    engine.fit(resumed, splits["train"], cfg, run_dir=tmp_path / "stopped", progress=False)
    for name in ("learner.safetensors", "optimizer.safetensors"):
        a, b = load_tensors(tmp_path / "straight" / name), load_tensors(tmp_path / "stopped" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    straight = json.loads((tmp_path / "straight" / "state.json").read_text())
    stopped = json.loads((tmp_path / "stopped" / "state.json").read_text())
    for key in ("epoch", "scheduler", "rng", "optimizer"):
        assert straight[key] == stopped[key], key
    assert straight["log"]["losses"] == stopped["log"]["losses"]
    saved = load_tensors(tmp_path / "straight" / "learner.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in learned_tensors(resumed).items())


@pytest.mark.parametrize("killed_in", ["save_json", "complete_checkpoint"])  # before / after the commit point
def test_a_kill_while_writing_a_checkpoint_still_resumes_to_the_same_result(tiny, splits, tmp_path, monkeypatch,
                                                                            killed_in):
    names, cfg = splits["train"].classnames, replace(FAST, epochs=3)
    engine.fit(CoOp(tiny, names), splits["train"], cfg, run_dir=tmp_path / "straight", progress=False)
    engine.fit(CoOp(tiny, names), splits["train"], cfg, run_dir=tmp_path / "killed", progress=False, until_epoch=1)

    original = getattr(checkpoint, killed_in)

    def kill(*args, **kwargs):  # the process dies once epoch 2's tensor files are written
        if list((tmp_path / "killed").glob("*.next")):
            raise KeyboardInterrupt
        return original(*args, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(checkpoint, killed_in, kill)
        with pytest.raises(KeyboardInterrupt):
            engine.fit(CoOp(tiny, names), splits["train"], cfg, run_dir=tmp_path / "killed", progress=False)
    assert (tmp_path / "killed" / "learner.safetensors.next").exists()
    engine.fit(CoOp(tiny, names), splits["train"], cfg, run_dir=tmp_path / "killed", progress=False)
    assert _files(tmp_path / "killed") == ["learner.safetensors", "optimizer.safetensors", "state.json"]
    for name in ("learner.safetensors", "optimizer.safetensors"):
        a, b = load_tensors(tmp_path / "straight" / name), load_tensors(tmp_path / "killed" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_checkpoints_are_written_only_inside_the_run_folder(tiny, splits, tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    engine.fit(CoOp(tiny, splits["train"].classnames), splits["train"], replace(FAST, epochs=2),
               run_dir=tmp_path / "run", progress=False)
    assert _files(tmp_path) == ["run/learner.safetensors", "run/optimizer.safetensors", "run/state.json"]
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 2 and state["scheduler"]["last_epoch"] == 2
    assert state["config"] == dataclasses.asdict(replace(FAST, epochs=2))
    assert len(state["rng"]) == len(torch.get_rng_state()) and all(0 <= v < 256 for v in state["rng"])
    engine.fit(CoOp(tiny, splits["train"].classnames), splits["train"], replace(FAST, epochs=2), progress=False)
    assert _files(tmp_path) == ["run/learner.safetensors", "run/optimizer.safetensors", "run/state.json"]


def test_resuming_another_run_or_a_corrupt_checkpoint_gives_a_clear_error(tiny, splits, tmp_path):
    names = splits["train"].classnames
    run = tmp_path / "run"
    engine.fit(CoOp(tiny, names), splits["train"], replace(FAST, epochs=1), run_dir=run, progress=False)
    with pytest.raises(ValueError, match="another config"):
        engine.fit(CoOp(tiny, names), splits["train"], replace(FAST, epochs=2, lr=0.5), run_dir=run, progress=False)
    with pytest.raises(ValueError, match="another learner"):
        engine.fit(CoOp(tiny, names, ctx_init=None, n_ctx=8), splits["train"], replace(FAST, epochs=1),
                   run_dir=run, progress=False)
    (run / "optimizer.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        engine.fit(CoOp(tiny, names), splits["train"], replace(FAST, epochs=1), run_dir=run, progress=False)
    (run / "state.json").write_text('{"epoch": 1, "conf')
    with pytest.raises(ValueError, match="state.json is corrupt"):
        engine.fit(CoOp(tiny, names), splits["train"], replace(FAST, epochs=1), run_dir=run, progress=False)
    engine.fit(CoOp(tiny, names), splits["train"], replace(FAST, epochs=1), run_dir=run, resume=False,
               progress=False)  # starting over replaces the broken run
    assert json.loads((run / "state.json").read_text())["epoch"] == 1


def test_base_and_new_are_relabelled_and_scored_against_their_own_classes(tiny, splits):
    """An untrained CoOp from "a photo of a" is zero-shot CLIP, on base and on new classes alike."""
    task_names = get_task(TASK).classnames
    model, preprocess, tokenizer = tiny
    for name in ("test_base", "test_new"):
        subset = splits[name]
        assert sorted(np.unique(subset.labels).tolist()) == list(range(len(subset.classnames)))
        ids = [task_names.index(n) for n in subset.classnames]
        assert ids == sorted(ids) and (name == "test_base") == (ids[0] == 0)
        classifier = zeroshot.text_classifier(model, tokenizer, subset.classnames, ["a photo of a {}."])
        logits = zeroshot.similarity_matrix(zeroshot.encode_images(model, preprocess, subset.images), classifier)
        expected = accuracy(logits, torch.as_tensor(subset.labels))
        learner = CoOp(tiny, splits["train"].classnames)
        assert engine.evaluate(learner, subset) == pytest.approx(expected, abs=0.2)
        assert learner.classnames == subset.classnames


def test_h_is_the_harmonic_mean_of_the_seed_means():
    result = summarize(base=[100.0, 50.0], new=[50.0, 100.0])
    assert result["base"] == result["new"] == 75.0 and result["seeds"] == 2
    assert result["H"] == 75.0  # the mean of the per-seed H values would be 66.7
    assert result["H"] != pytest.approx(sum(harmonic_mean(b, n) for b, n in [(100, 50), (50, 100)]) / 2)
    assert result["base_std"] == pytest.approx(35.355, abs=1e-3)


def test_run_seeds_runs_each_seed_and_writes_only_into_run_dir(tiny, small_digits, tmp_path):
    result = engine.run_seeds(lambda names, seed: CoOp(tiny, names, seed=seed), small_digits,
                              cfg=replace(FAST, epochs=1), seeds=(1, 2), run_dir=tmp_path / "b2n", progress=False)
    assert [r["seed"] for r in result["runs"]] == [1, 2] and result["seeds"] == 2
    base, new = [r["base"] for r in result["runs"]], [r["new"] for r in result["runs"]]
    assert (result["base"], result["new"]) == (pytest.approx(np.mean(base)), pytest.approx(np.mean(new)))
    assert result["H"] == pytest.approx(harmonic_mean(np.mean(base), np.mean(new)))
    assert {p.split("/")[0] for p in _files(tmp_path)} == {"b2n"}
    assert sorted(os.listdir(tmp_path / "b2n")) == ["seed1", "seed2", "splits"]


def test_bench_speed_compares_the_naive_and_our_training_step(tiny, small_shapes):
    from tmml_lite.bench import bench_speed, format_bench
    rows = bench_speed(tiny, task=small_shapes, steps=2)
    assert [(r["method"], r["path"]) for r in rows] == [("CoOp", "naive"), ("CoOp", "ours"), ("CoCoOp", "naive"),
                                                        ("CoCoOp", "ours")]
    for naive, ours in (rows[:2], rows[2:]):
        assert naive["tokens"] == tiny.model.context_length > ours["tokens"]
        assert ours["memory_mb"] < naive["memory_mb"] / 3  # peak bytes allocated: deterministic on CPU
        assert ours["step_s"] < naive["step_s"]  # timing: only the direction, the 1/3 target is for the benchmark
    assert "ours/naive" in format_bench(rows)


def test_cocoop_step_memory_grows_with_classes_and_coop_stays_below(tiny):
    from tmml_lite.bench import class_names, cost_vs_classes
    rows = cost_vs_classes(tiny, methods=(CoOp, CoCoOp), class_counts=(2, 8), batch_size=4, steps=1)
    memory = {(r["method"], r["classes"]): r["memory_mb"] for r in rows}
    assert memory["CoCoOp", 8] > 2 * memory["CoCoOp", 2]  # one prompt per (image, class)
    assert memory["CoOp", 8] < memory["CoCoOp", 8] / 2  # one prompt per class, whatever the batch
    assert len(set(class_names(500))) == 500 and class_names(500)[:120] == class_names(120)
    with pytest.raises(ValueError, match="between 1 and"):
        class_names(0)
