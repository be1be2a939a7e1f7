"""gsam_lab.sam.threads: prompts split over worker threads give the same masks; torch's state is restored."""
import os

import numpy as np
import pytest
import torch

from gsam_lab import sam
from gsam_lab.sam import threads


def test_split_evenly_covers_the_range_in_order():
    for n in range(0, 12):
        for parts in range(1, 5):
            sl = threads.split_evenly(n, parts)
            assert [i for s in sl for i in range(s.start, s.stop)] == list(range(n))
            lengths = [s.stop - s.start for s in sl]
            assert all(x > 0 for x in lengths) and (not lengths or max(lengths) - min(lengths) <= 1)
    with pytest.raises(ValueError, match="parts >= 1"):
        threads.split_evenly(4, 0)


def test_resolve_workers(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert threads.resolve_workers("auto", torch.device("cpu"), 100) == 4
    assert threads.resolve_workers("auto", torch.device("cpu"), 5) == 2       # at least 2 prompts a thread
    assert threads.resolve_workers("auto", torch.device("cpu"), 1) == 1
    assert threads.resolve_workers("auto", torch.device("cuda"), 100) == 1
    assert threads.resolve_workers(3, torch.device("cpu"), 100) == 3
    for bad in (0, -1, 1.5, "many", True, None):
        with pytest.raises(ValueError, match="workers must be 'auto' or an int"):
            threads.resolve_workers(bad, torch.device("cpu"), 10)


def test_run_split_keeps_order_grad_mode_and_thread_count():
    before = torch.get_num_threads()
    seen = []

    def fn(s):
        seen.append((torch.get_num_threads(), torch.is_grad_enabled()))
        return list(range(s.start, s.stop))

    with torch.no_grad():
        out = threads.run_split(fn, threads.split_evenly(9, 3))
    assert out == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert seen and all(n == 1 and not g for n, g in seen)     # one torch thread each, the caller's no_grad
    assert torch.get_num_threads() == before


def test_run_split_raises_a_parts_error():
    def fn(s):
        if s.start:
            raise KeyError("part 2 failed")
        return s.start

    with pytest.raises(KeyError, match="part 2 failed"):
        threads.run_split(fn, threads.split_evenly(4, 2))


@pytest.fixture(scope="module")
def setup():
    model = sam.build_tiny_sam(0)
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    xy = rng.uniform(0, [40, 25], (11, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(4, 14, (11, 2))], 1)
    return model, img, boxes


@pytest.mark.parametrize("multimask", [False, True])
def test_workers_do_not_change_the_masks(setup, multimask):
    model, img, boxes = setup
    one = sam.PromptPredictor(model, workers=1, max_batch=3).set_image(img)
    three = sam.PromptPredictor(model, workers=3, max_batch=3).set_image(img)
    assert three._threads(len(boxes)) == 3 and one._threads(len(boxes)) == 1
    a = one.predict(boxes=boxes, multimask=multimask, return_logits=True)
    b = three.predict(boxes=boxes, multimask=multimask, return_logits=True)
    for x, y in zip(a, b):                      # other chunk sizes: float rounding only
        assert x.shape == y.shape and (x - y).abs().max() < 1e-4
    assert torch.equal(a.masks > 0, b.masks > 0)


def test_hooks_and_collecting_subclasses_stay_on_one_thread(setup):
    model, img, boxes = setup
    p = sam.PromptPredictor(model, workers=4).set_image(img)
    assert p._threads(len(boxes)) == 4
    h = model.mask_decoder.register_forward_hook(lambda *a: None)
    try:
        assert p._threads(len(boxes)) == 1       # hooks see the prompts in order
    finally:
        h.remove()
    from gsam_lab.stable_sam import StableSamPredictor
    assert StableSamPredictor.decode_in_threads is False


def test_bad_workers_fail_at_construction(setup):
    with pytest.raises(ValueError, match="workers"):
        sam.PromptPredictor(setup[0], workers=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_new_pool():
    threads.run_split(lambda s: s.start, threads.split_evenly(4, 2))      # the parent's pool exists
    assert threads._POOL is not None
    pid = os.fork()
    if pid == 0:                                                           # child: would hang on the dead pool
        ok = False
        try:
            ok = threads._POOL is None and threads.run_split(lambda s: s.start, threads.split_evenly(4, 2)) == [0, 2]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_the_pool_grows_and_a_smaller_request_reuses_it():
    big = threads._pool(3)
    assert threads._pool(2) is big and threads._POOL_SIZE >= 3
    assert threads.run_split(lambda s: s.stop - s.start, threads.split_evenly(9, 3)) == [3, 3, 3]
