"""No network unless allowed: with `allow_download=false` and HF_HUB_OFFLINE unset, a render that
loads models by repo id from a Hugging Face cache makes no socket or DNS call at all.

The guard (conftest.NO_NETWORK) records every connect, getaddrinfo and create_connection in the
CLI process; libraries swallow the error it raises, so the record is what the tests check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tiny_mmaudio
from conftest import Cli, assert_no_network, guarded_env, ok
from test_mmaudio_stage import FAST as MMAUDIO
from test_mmaudio_stage import job as sound_job
from test_real_models import _in_hf_cache, job

from orchestrator.cli.offline import downloads_allowed, network

ZIT = ("keyframes.steps=2", "keyframes.resolution=48", "keyframes.max_sequence_length=32")


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Path]:
    """A temporary HF cache and the guard, with nothing in the environment saying "offline"."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return guarded_env(tmp_path)


@pytest.mark.slow
def test_a_repo_id_from_the_hf_cache_loads_without_the_network(cli: Cli, tiny_models, hub_env):
    env, record = hub_env
    _in_hf_cache(Path(env["HF_HUB_CACHE"]), "tiny-org/tiny-zit", tiny_models["zit"])
    args = (
        "preset=draft",
        "keyframes=zit",
        "keyframes.model=tiny-org/tiny-zit",
        *ZIT,
        "audio=none",
    )
    run = cli.run_json(ok(cli(*args, job=job(), env=env)))
    assert [n["status"] for n in run["nodes"] if n["stage"] == "keyframe"] == ["ran", "ran"]
    assert_no_network(record)

    # The guard sees what the fix prevents: allowed to, huggingface_hub goes to the Hub even
    # for a cached model (the agent-harness registry, then the repo's metadata).
    ok(cli(*args, "allow_download=true", f"cache_dir={cli.tmp / 'other'}", job=job(), env=env))
    assert "huggingface.co" in record.read_text()


@pytest.mark.slow
def test_mmaudio_with_clip_and_vocoder_from_the_hf_cache_stays_offline(
    cli: Cli, tmp_path: Path, hub_env
):
    env, record = hub_env
    files = tiny_mmaudio.write_tiny_mmaudio(tmp_path / "mmaudio")
    hub = Path(env["HF_HUB_CACHE"])
    _in_hf_cache(hub, "tiny-org/tiny-clip", files["clip"])
    _in_hf_cache(hub, "tiny-org/tiny-bigvgan", files["vocoder"])
    cached = {**files, "clip": "tiny-org/tiny-clip", "vocoder": "tiny-org/tiny-bigvgan"}
    result = ok(cli(*MMAUDIO, *tiny_mmaudio.overrides(cached), job=sound_job(), env=env))
    assert any(n["id"] == "audio" for n in cli.run_json(result)["nodes"])
    assert_no_network(record)


def test_the_switch_reaches_every_copy_and_is_put_back(monkeypatch: pytest.MonkeyPatch):
    """In-process (a sweep's next job, tests): modules already imported are switched too."""
    import diffusers.utils.hub_utils as hub_utils
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_utils, "HF_HUB_OFFLINE", False)
    with network(allowed=False):
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert constants.is_offline_mode() and hub_utils.HF_HUB_OFFLINE
    assert "HF_HUB_OFFLINE" not in os.environ
    assert not constants.is_offline_mode() and not hub_utils.HF_HUB_OFFLINE
    with network(allowed=True):
        assert "HF_HUB_OFFLINE" not in os.environ


def test_any_stage_allowed_to_download_keeps_the_network(make_config):
    assert not downloads_allowed(make_config())
    assert downloads_allowed(make_config("allow_download=true"))
    assert downloads_allowed(make_config("keyframes=zit", "keyframes.allow_download=true"))
    assert not downloads_allowed(make_config("keyframes=zit"))
