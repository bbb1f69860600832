"""Casts on tiny ZIT models: the composed prompt the text encoder reads, per-shot LoRAs switched
on one loaded pipeline, plan-time warnings naming the shot, and every scheduler choice."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, ok, tiny_job
from omegaconf import OmegaConf, open_dict
from PIL import Image
from rich.console import Console

import stages.diffusion
from orchestrator.engine.context import NodeContext
from orchestrator.engine.errors import UserError
from orchestrator.engine.progress import Reporter
from orchestrator.render.run import execute, prepare
from orchestrator.schema.job import CharacterConfig
from orchestrator.stage import KeyframeRequest
from stages.diffusion.pool import ModelPool
from stages.keyframes import schedulers
from stages.keyframes.zit import ZitKeyframes

CAST = {
    "mia": {"description": "a girl", "details": "very short brown hair, red scarf"},
    "leo": {"description": "a man", "details": "black ponytail", "position": "right"},
}
TWO = "- in the kitchen\n- a girl -- very short brown hair, red scarf -- on the left\n"
TWO += "- a man -- black ponytail -- on the right\n\nsoft film grain"


def cast_job(**overrides: Any) -> dict[str, Any]:
    shots = [
        {"prompt": "in the kitchen", "cast": [{"mia": "left"}, "leo"], "frames": 1},
        {"prompt": "a lighthouse at night", "frames": 1},
    ]
    values = {"width": 32, "height": 32, "style": "soft film grain", "cast": CAST, "shots": shots}
    return tiny_job(**{**values, **overrides})


def config(make_config: Any, *args: str, job: dict[str, Any], draft: bool = True) -> Any:
    """make_config, with the cast set after the merge (a merge into a struct config cannot add
    keys to the typed `job.cast` mapping; Hydra's composition of a job file can)."""
    job = dict(job)
    cast = job.pop("cast", {})
    cfg = make_config(*args, job=job, draft=draft)
    for name, character in cast.items():
        with open_dict(cfg.job.cast):
            cfg.job.cast[name] = OmegaConf.merge(OmegaConf.structured(CharacterConfig), character)
    return cfg


def zit_args(models: dict[str, Path], *extra: str) -> tuple[str, ...]:
    return (
        "keyframes=zit", f"keyframes.model={models['zit']}", "keyframes.steps=2",
        "keyframes.resolution=48", "video=draft", "audio=none", "mode=stills", *extra,
    )  # fmt: skip


def test_plan_composes_the_cast_and_keeps_plain_shots(make_config, tmp_path):
    timeline = prepare(config(make_config, job=cast_job()), tmp_path / "run")[0]
    first, plain = timeline.shots
    assert first.prompt == TWO
    assert first.motion == (
        "in the kitchen. In the shot: a girl with very short brown hair, red scarf, on the left, "
        "and a man with black ponytail, on the right, soft film grain"
    )
    assert plain.prompt == "a lighthouse at night, soft film grain"


def test_the_text_encoder_reads_the_composed_prompt(
    make_config, tiny_models, tmp_path, monkeypatch
):
    seen: list[Any] = []
    prepare_pipe = ZitKeyframes.prepare

    def spy(self: ZitKeyframes, pipe: Any) -> Any:
        def hook(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
            ids = kwargs["input_ids"][kwargs["attention_mask"].bool()]
            seen.append(pipe.tokenizer.decode(ids))

        pipe.text_encoder.register_forward_pre_hook(hook, with_kwargs=True)
        return prepare_pipe(self, pipe)

    monkeypatch.setattr(ZitKeyframes, "prepare", spy)
    job = cast_job(shots=cast_job()["shots"][:1])
    cfg = config(
        make_config, *zit_args(tiny_models), f"cache_dir={tmp_path / 'c'}", job=job, draft=False
    )
    with Reporter(Console(file=io.StringIO())) as reporter:
        execute(cfg, tmp_path / "run", reporter)
    assert len(seen) == 1
    assert f"<|im_start|>user\n{TWO}<|im_end|>" in seen[0]
    embedded = json.loads(Image.open(tmp_path / "run/keyframes/shot_000.png").text["renga"])
    assert embedded["request"]["prompt"] == TWO
    assert embedded["notes"]["motion"].startswith("in the kitchen. In the shot: a girl with")


def test_plan_warns_about_syntax_zit_ignores_naming_the_shot(cli: Cli):
    shots = [
        {"prompt": "a (red:1.4) kite BREAK over a field", "seconds": 1.0},
        {"prompt": "a lighthouse", "motion": "embedding:night_style sweeps", "seconds": 1.0},
    ]
    result = ok(cli("preset=draft", command="plan", job=tiny_job(shots=shots)))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: job.shots[0].prompt: weight syntax like (red:1.4) does nothing for an LLM text "
        'encoder; say it in words ("very", "strongly")',
        "warning: job.shots[0].prompt: BREAK is A1111 syntax; here it is just the word BREAK",
        "warning: job.shots[1].motion: embedding:night_style is embedding/LoRA prompt syntax "
        "that renga does not read; use job.cast[].loras or keyframes.loras",
    ]


def test_a_prompt_over_max_sequence_length_is_counted_and_named(
    make_config, tiny_models, tmp_path, capsys
):
    shots = [{"prompt": "a red kite over a field " * 12, "frames": 1}, {"prompt": "a kite"}]
    shots[1]["frames"] = 1
    args = zit_args(tiny_models, "keyframes.max_sequence_length=32")
    prepare(make_config(*args, job=tiny_job(shots=shots), draft=False), tmp_path / "run")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: job.shots[0].prompt: "), lines
    assert "tokens, over keyframes.max_sequence_length=32" in lines[0]
    assert "about" not in lines[0]  # counted with the model's own tokenizer


def test_one_lora_file_at_two_scales_is_refused(make_config, tiny_models, tmp_path):
    lora = str(tiny_models["zit_lora"])
    cast = {name: {**c, "loras": [{"path": lora, "scale": s}]} for (name, c), s in
            zip(CAST.items(), (1.0, 0.5), strict=True)}  # fmt: skip
    with pytest.raises(UserError) as error:
        prepare(config(make_config, job=cast_job(cast=cast)), tmp_path / "run")
    assert error.value.key == "job.shots[0].cast"
    assert "at scale 1 (job.cast.mia.loras[0]) and at 0.5 (job.cast.leo.loras[0])" in str(
        error.value
    )


def _render(backend: ZitKeyframes, pool: ModelPool, tmp: Path, **request: Any) -> np.ndarray:
    values = {"shot": 0, "shots": 1, "prompt": "a red kite", "negative_prompt": ""}
    values |= {"width": 32, "height": 24, "seed": 3, **request}
    ctx = NodeContext("keyframe/0", tmp, {}, pool)
    return np.asarray(backend.render(KeyframeRequest(**values), None, ctx))


@pytest.fixture(scope="module")
def second_lora(tmp_path_factory) -> Path:
    import tiny_models

    return tiny_models.lora(tmp_path_factory.mktemp("b"), tiny_models.zit_transformer(), seed=1)


def test_shot_loras_switch_on_one_loaded_pipeline(tiny_models, second_lora, tmp_path, monkeypatch):
    loads: list[Any] = []
    load = stages.diffusion.backend.load_pipeline
    monkeypatch.setattr(
        stages.diffusion.backend, "load_pipeline", lambda s: loads.append(s) or load(s)
    )
    a, b = str(tiny_models["zit_lora"]), str(second_lora)
    backend = ZitKeyframes(model=str(tiny_models["zit"]), steps=2, resolution=48)
    pool = ModelPool()
    base = _render(backend, pool, tmp_path)
    only_a = _render(backend, pool, tmp_path, loras=((a, 1.0),))
    pipe = backend.pipe(NodeContext("x", tmp_path, {}, pool))
    assert len(pipe.get_active_adapters()) == 1
    both = _render(backend, pool, tmp_path, loras=((a, 1.0), (b, 1.0)))
    assert len(pipe.get_active_adapters()) == 2
    again = _render(backend, pool, tmp_path)
    zero = _render(backend, pool, tmp_path, loras=((a, 0.0),))
    assert len(loads) == 1  # the base model loaded once; adapters came and went on it
    assert not np.array_equal(base, only_a) and not np.array_equal(only_a, both)
    assert np.array_equal(base, again) and np.array_equal(base, zero)


@pytest.mark.parametrize(
    ("scheduler", "sigmas"),
    [(s, "simple") for s in schedulers.SCHEDULERS]
    + [("euler", s) for s in ("karras", "exponential", "beta")],
)
def test_every_scheduler_choice_renders_and_a_seed_fixes_it(
    tiny_models, tmp_path, scheduler, sigmas
):
    backend = ZitKeyframes(
        model=str(tiny_models["zit"]), steps=3, resolution=48, scheduler=scheduler, sigmas=sigmas
    )
    schedulers.check(scheduler, sigmas)
    pool = ModelPool()
    first = _render(backend, pool, tmp_path)
    assert first.shape == (24, 32, 3) and first.std() > 0
    assert np.array_equal(first, _render(backend, pool, tmp_path))
    if not schedulers.is_default(scheduler, sigmas):
        euler = ZitKeyframes(model=str(tiny_models["zit"]), steps=3, resolution=48)
        assert not np.array_equal(first, _render(euler, ModelPool(), tmp_path))


@pytest.mark.parametrize(
    ("scheduler", "sigmas", "key", "text"),
    [
        ("res_multistep", "simple", "keyframes.scheduler", "no RES multistep"),
        ("dpmpp_sde", "simple", "keyframes.scheduler", "use dpmpp_2m_sde"),
        ("euler", "ddim_uniform", "keyframes.sigmas", "use simple"),
        ("dpmpp_2m", "karras", "keyframes.sigmas", "works with scheduler euler"),
        ("lms", "simple", "keyframes.scheduler", "unknown value 'lms'"),
    ],
)
def test_schedulers_diffusers_cannot_do_are_one_line(
    cli: Cli, tiny_models, scheduler, sigmas, key, text
):
    args = (
        *zit_args(tiny_models),
        f"keyframes.scheduler={scheduler}",
        f"keyframes.sigmas={sigmas}",
    )
    result = cli(*args, command="plan", job=tiny_job())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: ") and text in lines[0], lines


def test_a_lone_centred_character_starts_from_their_reference_image(make_config, tmp_path):
    picture = tmp_path / "mia.png"
    Image.new("RGB", (40, 40), (200, 30, 30)).save(picture)
    cast = {**CAST, "mia": {**CAST["mia"], "image": str(picture)}}
    shots = [{"prompt": "in the rain", "cast": ["mia"], "frames": 1}]
    shots.append({"prompt": "in the rain", "cast": [{"mia": "left"}], "frames": 1})
    timeline = prepare(config(make_config, job=cast_job(cast=cast, shots=shots)), tmp_path / "r")[0]
    assert timeline.shots[0].image == picture and timeline.shots[1].image is None
