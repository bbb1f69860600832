"""Planner: shots to segments, exact frame counts, seeds, and plan-time errors."""

from __future__ import annotations

import itertools

import pytest
from conftest import tiny_job

from orchestrator.engine.errors import UserError
from orchestrator.plan.job import plan_job
from orchestrator.plan.segments import clip_length
from orchestrator.plan.timeline import derive_seed
from stages.video.draft import DraftVideo


def plan(make_config, *overrides, video=None, **job):
    cfg = make_config(*overrides, job=tiny_job(**job))
    return plan_job(cfg, video or DraftVideo(frames=17, fps=16.0))


def test_clip_length_is_4k_plus_1():
    assert [clip_length(n) for n in (1, 5, 6, 9, 81, 82)] == [5, 5, 9, 9, 81, 85]


@pytest.mark.slow
def test_each_shot_gets_exactly_its_frames(make_config):
    for seconds, transition, overlap, loop in itertools.product(
        (0.25, 1.0, 1.3, 2.9), ("cut", "continue", "morph"), (0, 1, 3), ("none", "closure")
    ):
        shots = [{"prompt": f"p{i}", "seconds": seconds + i / 7} for i in range(3)]
        timeline = plan(
            make_config, f"assemble.overlap_frames={overlap}",
            shots=shots, transition=transition, loop=loop,
        )  # fmt: skip
        for shot in timeline.shots:
            made = sum(s.contributes for s in timeline.segments if s.shot == shot.index)
            assert made == shot.frames
        assert timeline.frames == sum(round(s["seconds"] * 16) for s in shots)
        for segment in timeline.segments:
            assert (segment.num_frames - 1) % 4 == 0 and segment.num_frames <= 17
            assert segment.keep <= segment.num_frames
            assert len(segment.drop) <= 3


def test_chained_segments_start_from_the_previous_clip(make_config):
    timeline = plan(make_config, "assemble.overlap_frames=3", shots=[{"prompt": "a", "seconds": 3}])
    first, second = timeline.segments[:2]
    assert first.start_keyframe == 0 and first.head == 0
    assert second.start_segment == first.number
    assert second.head == 3 and second.start_frame == first.keep - 3


def test_latent_grid_starts_every_chained_clip_on_a_latent_and_keeps_every_shot_exact():
    """continuation=latent: whatever the shot lengths and overlap, a chained clip starts on a
    frame 4k of the clip before; the frames that moves into its head are shared, so each shot
    still gets exactly its frames."""
    from orchestrator.plan.segments import plan_segments
    from orchestrator.plan.timeline import ShotPlan

    for frames, overlap, transition in itertools.product(
        ((12, 8), (30, 7, 19), (81, 200, 5)), (0, 2, 5), ("cut", "continue")
    ):
        shots = [ShotPlan(i, "p", "m", "", n, 0, None, seed=i) for i, n in enumerate(frames)]
        segments = plan_segments(shots, transition, "none", overlap, 17, 0, grid=4)
        for segment in segments:
            if segment.start_segment is None:
                continue
            previous = segments[segment.start_segment]
            assert segment.start_frame % 4 == 0
            assert segment.head == previous.keep - segment.start_frame >= max(overlap, 1)
        for shot in shots:
            made = sum(s.contributes for s in segments if s.shot == shot.index)
            assert made == shot.frames, (frames, overlap, transition)
    plain = plan_segments(shots, "continue", "none", 2, 17, 0)
    assert any(s.start_frame % 4 for s in plain if s.start_segment is not None)


def test_continue_chains_across_shots_and_needs_one_keyframe(make_config):
    timeline = plan(make_config, transition="continue")
    assert timeline.keyframes == (0,)
    first_of_shot_1 = next(s for s in timeline.segments if s.shot == 1)
    assert first_of_shot_1.start_segment is not None
    assert first_of_shot_1.prompt.startswith("the beam sweeps")


def test_morph_ends_each_shot_on_the_next_keyframe(make_config):
    timeline = plan(make_config, transition="morph")
    ends = [s.end_keyframe for s in timeline.segments]
    assert ends == [1, None]
    assert timeline.keyframes == (0, 1)


def test_closure_ends_the_video_on_the_first_keyframe(make_config):
    timeline = plan(make_config, transition="continue", loop="closure")
    assert timeline.segments[-1].end_keyframe == 0
    assert timeline.segments[-1].keep == timeline.segments[-1].num_frames - 1


def test_pingpong_adds_the_way_back_without_repeating_ends(make_config):
    timeline = plan(make_config, loop="pingpong")
    assert timeline.frames == 2 * 32 - 2


def test_seeds_depend_on_node_identity_not_on_other_shots(make_config):
    a = plan(make_config)
    shots = tiny_job()["shots"]
    shots[1]["prompt"] = "something else entirely"
    b = plan(make_config, shots=shots)
    assert a.shots[0].seed == b.shots[0].seed
    assert a.segments[0].seed == b.segments[0].seed
    assert derive_seed(1, "shot", 0) != derive_seed(2, "shot", 0)
    explicit = plan(make_config, shots=[{"prompt": "x", "seconds": 1, "seed": 42}])
    assert explicit.shots[0].seed == 42


def test_style_is_appended_to_prompts(make_config):
    timeline = plan(make_config, style="film grain")
    assert timeline.shots[0].prompt == "a red kite over a field, film grain"
    assert timeline.shots[0].motion == "the kite climbs, film grain"


@pytest.mark.parametrize(
    ("overrides", "job", "key", "text"),
    [
        ((), {"shots": []}, "job.shots", "empty"),
        ((), {"transition": "wipe"}, "job.transition", "unknown value 'wipe'"),
        ((), {"loop": "forever"}, "job.loop", "unknown value"),
        (("mode=film",), {}, "mode", "unknown value"),
        ((), {"width": 65}, "job.width", "multiple of 16"),
        ((), {"height": 0}, "job.height", "must be positive"),
        ((), {"fps": -1.0}, "job.fps", "must be positive"),
        ((), {"shots": [{"prompt": "a", "seconds": 0}]}, "job.shots[0].seconds", "positive"),
        ((), {"shots": [{"prompt": "a", "frames": -2}]}, "job.shots[0].frames", "positive"),
        ((), {"shots": [{"prompt": "a"}]}, "job.shots[0]", "seconds or frames"),
        ((), {"shots": [{"prompt": "", "seconds": 1}]}, "job.shots[0].prompt", "empty"),
        ((), {"shots": [{"prompt": "a", "seconds": 1, "image": "/no/such.png"}]},
         "job.shots[0].image", "file not found"),
        ((), {"soundtrack": "/no/such.wav"}, "job.soundtrack", "file not found"),
        (("assemble.overlap_frames=9",), {}, "assemble.overlap_frames", "between 0 and 8"),
        (("assemble.crossfade=star",), {}, "assemble.crossfade", "unknown value"),
        (("video.frames=16",), {}, "video.frames", "4k+1"),
    ],
)  # fmt: skip
def test_bad_jobs_name_the_key(make_config, overrides, job, key, text):
    frames = 16 if "video.frames=16" in overrides else 17
    with pytest.raises(UserError) as err:
        plan(make_config, *overrides, video=DraftVideo(frames=frames), **job)
    assert err.value.key == key
    assert text in str(err.value)


def test_last_image_options_need_a_backend_that_supports_them(make_config):
    video = DraftVideo(frames=17)
    video.supports_last_image = False
    for job in ({"transition": "morph"}, {"loop": "closure"}):
        with pytest.raises(UserError, match="ignores last_image"):
            plan(make_config, video=video, **job)


def test_continue_rejects_images_it_would_ignore(make_config, tmp_path):
    from PIL import Image

    image = tmp_path / "k.png"
    Image.new("RGB", (32, 32)).save(image)
    shots = [{"prompt": "a", "seconds": 1}, {"prompt": "b", "seconds": 1, "image": str(image)}]
    with pytest.raises(UserError) as err:
        plan(make_config, transition="continue", shots=shots)
    assert err.value.key == "job.shots[1].image"


def test_undecodable_image_is_rejected(make_config, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(UserError) as err:
        plan(make_config, shots=[{"prompt": "a", "seconds": 1, "image": str(bad)}])
    assert err.value.key == "job.shots[0].image"
