"""What the full profile needs, checked on the CPU: every learner on ViT-B-16 and a real dataset's format, mixed
precision without NaN, the loader's worker and pinned-memory path, and the class chunk chosen from free memory."""
from dataclasses import replace

import numpy as np
import pytest
import standin_data
import torch

from tmml_lite import TMML, CoCoOp, CoOp, TrainConfig, data, datasets, engine, methods
from tmml_lite.saving import learned_tensors


def _tiny_subset(n_classes=2, per_class=1, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_classes * per_class, size, size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(n_classes), per_class)
    return data.Subset(images, labels, [f"class {i}" for i in range(n_classes)])


@pytest.mark.parametrize("method", ["CoOp", "CoCoOp", "TMML"])
def test_every_learner_trains_on_vit_b16_and_a_real_dataset_format(vit_b16_random, method, tmp_path, monkeypatch):
    """The full profile's path, but for the weights and the GPU: ViT-B-16, a dataset read through torchvision
    from its on-disk format (a stand-in EuroSAT), the base-to-new protocol and the method's full recipe."""
    monkeypatch.setenv("TMML_DATA", str(tmp_path))
    standin_data.make_standin("eurosat", tmp_path, n_classes=4, per_class=6)
    spec = methods.METHODS[method]
    cfg = methods.recipe(spec, vit_b16_random.name)
    assert cfg.lr == methods.PAPER_LR
    run = engine.run_seed(lambda names, seed: spec.build(vit_b16_random, names, seed), "eurosat",
                          replace(cfg, epochs=1, warmup_epochs=0), seed=1, shots=1, progress=False)
    assert np.isfinite(run["log"]["losses"]).all()
    untrained = learned_tensors(spec.build(vit_b16_random, run["learner"].classnames, 1))
    assert any(not torch.equal(v, untrained[k]) for k, v in learned_tensors(run["learner"]).items())
    assert 0 <= run["base"] <= 100 and 0 <= run["new"] <= 100


def test_autocast_is_fp32_on_the_cpu_and_half_precision_on_cuda_when_auto():
    assert engine.autocast_dtype("cpu", "auto") is None
    assert engine.autocast_dtype("cpu", "bf16") is torch.bfloat16
    if torch.cuda.is_available():
        assert engine.autocast_dtype("cuda", "auto") in (torch.bfloat16, torch.float16)
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        engine.autocast_dtype("cpu", "fp8")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_gives_finite_losses_and_full_precision_parameters(precision):
    from tmml_lite.backbone import create_tiny
    # TinyCLIP in float32, as ViT-B/16 is: autocast leaves float64 (the tiny profile's dtype) alone
    backbone = create_tiny()
    splits = data.base_to_new("textures", shots=2, seed=1)
    for method in (CoOp, TMML):
        learner = method(backbone, splits["train"].classnames)
        assert learner.dtype == torch.float32
        log = engine.fit(learner, splits["train"], TrainConfig(epochs=1, batch_size=4, precision=precision),
                         progress=False)
        assert np.isfinite(log["losses"]).all(), (method.__name__, log["losses"])
        # autocast computes in half precision; the learned tensors stay in the model's own dtype
        assert all(p.dtype == learner.dtype for p in learner.parameters() if p.requires_grad)
        assert 0 <= engine.evaluate(learner, splits["val"], precision=precision) <= 100


def test_a_nan_loss_stops_training_with_advice(tiny, monkeypatch):
    train = _tiny_subset()
    learner = CoOp(tiny, train.classnames)
    monkeypatch.setattr(learner, "training_loss", lambda inputs, labels: torch.tensor(float("nan"),
                                                                                        requires_grad=True))
    with pytest.raises(FloatingPointError, match="precision='fp32'"):
        engine.fit(learner, train, TrainConfig(epochs=1), progress=False)


def test_worker_processes_give_the_same_batches_as_the_main_process(tiny, tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")

    class Folder:  # a torchvision-style dataset: item i is (PIL image, label)
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return Image.open(tmp_path / f"{i}.png"), 0
    images = datasets.ImageList(Folder(), [4, 0, 2])
    main = torch.cat(list(data.image_batches(images, tiny.preprocess, batch_size=2, num_workers=0)))
    workers = torch.cat(list(data.image_batches(images, tiny.preprocess, batch_size=2, num_workers=2)))
    assert main.shape == (3, 3, 32, 32) and torch.equal(main, workers)
    assert data.loader_options("cpu") == {"num_workers": 0, "pin_memory": False}
    assert data.loader_options("cuda")["pin_memory"] is True


def test_class_chunk_is_what_fits_in_the_free_memory():
    mib = 2**20
    # 1 MiB per (image, class) prompt, batch 4, 100 MiB free, half of it usable: 12 classes per pass
    assert engine.choose_class_chunk(mib, 4, 500, 100 * mib) == 12
    assert engine.choose_class_chunk(mib, 4, 10, 100 * mib) == 10  # never more than the classes
    with pytest.raises(MemoryError, match="smaller batch_size"):
        engine.choose_class_chunk(mib, 64, 500, 100 * mib)


def test_on_the_cpu_the_class_chunk_is_left_alone(tiny):
    learner = CoCoOp(tiny, ["a", "b", "c"], class_chunk=2)
    features = torch.nn.functional.normalize(torch.randn(2, 128), dim=-1)
    assert engine.fit_class_chunk(learner, features, torch.tensor([0, 1])) is None
    assert learner.class_chunk == 2


def test_evaluation_never_puts_more_prompts_through_at_once_than_training_measured(tiny, monkeypatch):
    splits = data.base_to_new("textures", shots=2, seed=1)
    test = splits["test_base"]
    test = data.Subset(test.images[:40], test.labels[:40], test.classnames)  # 40 images: 10 batches of 4
    learner = CoCoOp(tiny, splits["train"].classnames, class_chunk=2)
    unlimited = engine.evaluate(learner, test)
    sizes = []
    batches = data.image_batches

    def recording(images, preprocess, batch_size, *args, **kwargs):
        sizes.append(batch_size)
        return batches(images, preprocess, batch_size, *args, **kwargs)
    monkeypatch.setattr(data, "image_batches", recording)
    learner.prompts_per_pass = 8  # what fit_class_chunk records on CUDA: here, 4 images x 2 classes
    assert engine.evaluate(learner, test) == unlimited
    assert sizes == [4]


def test_a_chapters_experiment_on_real_data_stands_beside_the_papers_row(vit_b16_random, tmp_path, monkeypatch):
    """The switch of chapters 01-06 (REAL_DATA): the chapter's methods on a real dataset with ViT-B-16, each
    beside the row the papers publish for it on that dataset; resumable, like the grid it runs."""
    from tmml_lite import grid, papers
    monkeypatch.setenv("TMML_DATA", str(tmp_path / "data"))
    standin_data.make_standin("dtd", tmp_path / "data", n_classes=2, per_class=6)
    results = tmp_path / "dtd.csv"
    methods = ["zero-shot", "CoOp (batch 4)"]
    frame = grid.real_data_frame(methods, "dtd", seeds=(1,), shots=1, results=results, backbone=vit_b16_random)
    assert list(frame.index) == [("DTD", "zero-shot"), ("DTD", "CoOp (batch 4)")]
    assert tuple(frame.loc[("DTD", "zero-shot"), ["paper Base", "paper New"]]) == papers.published("CLIP", "DTD")[:2]
    assert np.isnan(frame.loc[("DTD", "CoOp (batch 4)"), "paper Base"])  # no paper trains CoOp this way
    assert frame[["Base", "New"]].stack().between(0, 100).all()
    monkeypatch.setattr(grid, "run_cell", lambda *a, **k: pytest.fail("a finished run was run again"))
    assert frame.equals(grid.real_data_frame(methods, "dtd", seeds=(1,), shots=1, results=results,
                                             backbone=vit_b16_random))
    with pytest.raises(ValueError, match="not a registered dataset"):
        grid.real_data_frame(["CoOp"], "textures", backbone=vit_b16_random)
