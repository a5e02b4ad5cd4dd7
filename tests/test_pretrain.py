import json
import os
import signal
import textwrap

import pytest
import torch

from tmml_lite.checkpoint import load_tensors
from tmml_lite.pretrain import PretrainConfig, pretrain


def test_a_short_pretraining_run_lowers_the_loss(tmp_path):
    cfg = PretrainConfig(steps=30, batch_size=32, warmup=5, lr=2e-3, save_every=100)
    log = pretrain(cfg, run_dir=tmp_path / "run", out=tmp_path / "tiny.safetensors", progress=False)
    first, last = sum(log["losses"][:5]) / 5, sum(log["losses"][-5:]) / 5
    assert last < first - 0.2, (first, last)
    assert (tmp_path / "tiny.safetensors").exists() and (tmp_path / "tiny.log.json").exists()


SHORT = dict(steps=4, batch_size=8, warmup=2, save_every=2)  # the short run both resume tests stop and resume


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The short run, uninterrupted: its run folder and its log."""
    run_dir = tmp_path_factory.mktemp("straight")
    return run_dir, pretrain(PretrainConfig(**SHORT), run_dir=run_dir, out=None, progress=False)


def test_resume_after_a_stop_equals_the_uninterrupted_run(straight, tmp_path):
    cfg = PretrainConfig(**SHORT)
    pretrain(cfg, run_dir=tmp_path / "stopped", out=None, progress=False, until_step=2)  # "killed" after step 2
    assert json.loads((tmp_path / "stopped" / "state.json").read_text())["step"] == 2
    pretrain(cfg, run_dir=tmp_path / "stopped", out=None, progress=False)  # resumes at step 2
    a = load_tensors(straight[0] / "model.safetensors")
    b = load_tensors(tmp_path / "stopped" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def killed_pretraining(folder):
    """A fresh Python that pretrains SHORT into folder/killed and SIGKILLs itself after step 4's weights and
    optimizer are written, before its state.json."""
    code = textwrap.dedent(f"""
        import os, signal
        from tmml_lite import checkpoint
        from tmml_lite.pretrain import PretrainConfig, pretrain
        write_json = checkpoint.save_json
        def save_json(path, obj):
            if obj.get("step") == 4:  # the tensor files of step 4 are on disk; its state.json is not
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: as if the machine died
            return write_json(path, obj)
        checkpoint.save_json = save_json
        pretrain(PretrainConfig(**{SHORT!r}), run_dir={str(folder / "killed")!r}, out=None, progress=False)
    """)
    return code, {**os.environ, "TMML_PROFILE": "tiny"}


@pytest.mark.fresh_python("killed_pretraining")
def test_pretraining_killed_between_the_weight_write_and_the_state_write_resumes_bit_identically(straight,
                                                                                                 fresh_python):
    """SIGKILL after step 4's weights and optimizer are written but before its state.json: the resumed run
    must go back to step 2 (the last committed checkpoint), not mix step-4 weights with a step-2 state."""
    cfg = SHORT
    killed_dir = fresh_python.folder / "killed"
    killed = fresh_python.result()
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (killed_dir / "model.safetensors.next").exists()  # killed after the weight write ...
    assert json.loads((killed_dir / "state.json").read_text())["step"] == 2  # ... and before the state write
    resumed = pretrain(PretrainConfig(**cfg), run_dir=killed_dir, out=None, progress=False)
    straight_dir, straight_log = straight
    assert sorted(p.name for p in killed_dir.iterdir()) == ["model.safetensors", "optimizer.safetensors",
                                                            "state.json"]
    for name in ("model.safetensors", "optimizer.safetensors"):
        a, b = load_tensors(straight_dir / name), load_tensors(killed_dir / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert resumed["losses"] == straight_log["losses"] and len(straight_log["losses"]) == 4


def test_resuming_with_another_config_is_refused(tmp_path):
    pretrain(PretrainConfig(steps=2, batch_size=8, warmup=1, save_every=2), run_dir=tmp_path, out=None,
             progress=False)
    try:
        pretrain(PretrainConfig(steps=3, batch_size=8, warmup=1, save_every=2), run_dir=tmp_path, out=None,
                 progress=False)
    except ValueError as e:
        assert "another config" in str(e)
    else:
        raise AssertionError("resuming with a different config must fail")


def test_an_unknown_web_domain_is_refused_with_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="CLEAN for world v3, WEB for v4"):
        pretrain(PretrainConfig(steps=2, batch_size=8, domain="web"), run_dir=tmp_path, out=None, progress=False)


def test_corrupt_or_pickled_checkpoint_is_refused(tmp_path):
    import pickle
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(pickle.dumps({"weight": [1, 2, 3]}))
    try:
        load_tensors(bad)
    except ValueError as e:
        assert "not a readable safetensors" in str(e)
    else:
        raise AssertionError("a pickle must not load")
