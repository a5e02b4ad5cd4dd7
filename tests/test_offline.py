"""The tiny profile never opens a network connection, and the full profile offline fails fast: each runs in a
subprocess with sockets blocked."""
import os
import textwrap

import pytest

# the first lines of every subprocess below: any attempt to open a connection is recorded in `attempts` and
# fails as an unreachable network would (a library that swallows the error cannot hide the attempt)
BLOCK_SOCKETS = textwrap.dedent("""
    import socket
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
""")


def offline_python(folder):
    """One Python with sockets blocked, for both tests (each start imports torch and open_clip): the tiny profile
    loads and evaluates, then the full profile is asked for ViT-B/16 with an empty weights cache."""
    code = BLOCK_SOCKETS + textwrap.dedent("""
        import time
        import tmml_lite
        from tmml_lite import load_clip, zeroshot_accuracy
        backbone = load_clip(profile="tiny")
        assert backbone.name == tmml_lite.TINY_MODEL, backbone.name
        acc = zeroshot_accuracy(backbone, "digits", split="val")
        assert not attempts, attempts
        print("ok", acc)
        start = time.perf_counter()
        try:
            load_clip(profile="full")
        except tmml_lite.backbone.WeightsUnavailableError as error:
            print(f"seconds {time.perf_counter() - start:.2f}")
            print(error)
    """)
    env = {**os.environ, "TMML_PROFILE": "tiny", "HF_HOME": str(folder / "hf")}
    env.pop("HF_HUB_CACHE", None)
    return code, env


@pytest.fixture
def offline_run(fresh_python):
    result = fresh_python.result()
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, fresh_python.folder / "hf"


@pytest.mark.fresh_python("offline_python")
def test_tiny_profile_opens_no_socket(offline_run):
    stdout, _ = offline_run
    assert stdout.startswith("ok ")


@pytest.mark.fresh_python("offline_python")
def test_full_profile_without_cached_weights_fails_fast_offline_and_says_what_to_do(offline_run):
    stdout, hf_home = offline_run
    _, first, message = stdout.split("\n", 2)
    assert float(first.split()[1]) < 10, first
    for needed in ("ViT-B-16", "'openai'", str(hf_home / "hub"), "models--timm--vit_base_patch16_clip_224",
                   "machine with internet", "open_clip.create_model('ViT-B-16', pretrained='openai')",
                   "TMML_PROFILE=tiny"):
        assert needed in message, (needed, message)
