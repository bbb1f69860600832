"""MMAudio conditioners: frames sampled by timestamp, CLIP features, Synchformer features."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from orchestrator.engine.errors import UserError
from orchestrator.media.container import MediaError
from orchestrator.media.encode import LOSSLESS, h264, write_video
from stages.audio.mmaudio import frames as fr
from stages.audio.mmaudio.checkpoint import CheckpointMismatch
from stages.audio.mmaudio.clip import MEAN, STD, ClipEncoder
from stages.audio.mmaudio.synchformer import (
    Synchformer,
    SynchformerConfig,
    build_synchformer,
    convert_synchformer,
    official_shapes,
)
from tests.tiny_mmaudio_cond import (
    TINY_SYNC,
    official_synchformer_layout,
    official_synchformer_state,
    write_clip_folder,
    write_official_synchformer,
)

# ------------------------------------------------------------------------------------ frames


def index_video(path: Path, fps: int, seconds: float) -> Path:
    """Frame i is a flat colour whose red channel is i, so every sampled frame names its source."""
    count = round(fps * seconds)
    frames = (np.full((36, 48, 3), (i, 255 - i, 77), dtype=np.uint8) for i in range(count))
    write_video(path, frames, fps=Fraction(fps), codec=LOSSLESS)
    return path


def training_pick(source_fps: int, count: int, t: float, fps: int) -> int:
    """MMAudio's training reader (FFmpeg's fps filter, round to nearest) for the output frame at
    t: the last source frame stamped before the middle of that frame's 1/fps interval."""
    middle = t + 0.5 / fps
    return max([0] + [i for i in range(count) if i / source_fps < middle - 1e-9])


def red(frames: torch.Tensor, low: float) -> list[int]:
    values = frames[:, 0, 0, 0] if low == 0 else (frames[:, 0, 0, 0] + 1) / 2
    return [round(v * 255) for v in values.tolist()]


@pytest.mark.parametrize("source_fps", [16, 24, 25, 30])
@pytest.mark.parametrize("start", [0.0, 1.3])
def test_frames_are_sampled_by_timestamp(tmp_path: Path, source_fps: int, start: float) -> None:
    seconds, duration = 3.0, 1.5
    path = index_video(tmp_path / f"v{source_fps}.mkv", source_fps, seconds)
    window = fr.window_frames(path, start, duration, clip_size=24, sync_size=16)
    count = round(source_fps * seconds)
    for fps, got, low in ((8, window.clip, 0), (25, window.sync, -1)):
        slots = math.floor(duration * fps)
        expected = [training_pick(source_fps, count, start + k / fps, fps) for k in range(slots)]
        assert red(got, low) == expected, (fps, source_fps, start)
    assert window.clip.shape == (12, 3, 24, 24)
    assert window.sync.shape == (37, 3, 16, 16)


# MMAudio's training frames for one second from t = 0, read off FFmpeg's fps filter (torio's
# `frame_rate=`): Synchformer's 25 slots and CLIP's 8, by source rate.
TRAINING_SYNC = {
    16: [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12, 13, 13, 14, 15, 15],
    24: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],
    25: list(range(25)),
    30: [
        0,
        1,
        2,
        4,
        5,
        6,
        7,
        8,
        10,
        11,
        12,
        13,
        14,
        16,
        17,
        18,
        19,
        20,
        22,
        23,
        24,
        25,
        26,
        28,
        29,
    ],
}
TRAINING_CLIP = {
    16: [0, 2, 4, 6, 8, 10, 12, 14],
    24: [1, 4, 7, 10, 13, 16, 19, 22],
    25: [1, 4, 7, 10, 14, 17, 20, 23],
    30: [1, 5, 9, 13, 16, 20, 24, 28],
}


@pytest.mark.parametrize("source_fps", [16, 24, 25, 30])
def test_indices_are_mmaudio_training_frames(tmp_path: Path, source_fps: int) -> None:
    """Before the fix, 16 and 24 fps sources took e.g. sync [0, 0, 1, 1, ...] / [0, 0, 1, 2, ...]
    and CLIP [0, 3, 6, ...] for 24 fps: a frame earlier than the model was trained on."""
    rate = Fraction(source_fps)
    assert fr.source_indices(rate, 0, 1, 25) == TRAINING_SYNC[source_fps]
    assert fr.source_indices(rate, 0, 1, 8) == TRAINING_CLIP[source_fps]
    path = index_video(tmp_path / "v.mkv", source_fps, 1.5)
    window = fr.window_frames(path, 0, 1, clip_size=16, sync_size=16)
    assert red(window.sync, -1) == TRAINING_SYNC[source_fps]
    assert red(window.clip, 0) == TRAINING_CLIP[source_fps]


def ffmpeg_fps_filter(source_fps: Fraction, fps: int, count: int) -> list[int]:
    """Source indices FFmpeg's `fps=<fps>` filter (what torio's `frame_rate` adds) outputs for
    `count` frames stamped i/source_fps; each frame carries its index in two grey pixels."""
    import av
    import av.filter

    graph = av.filter.Graph()
    source = graph.add_buffer(width=8, height=8, format="gray", time_base=1 / source_fps)
    resample = graph.add("fps", f"{float(fps)}")
    sink = graph.add("buffersink")
    source.link_to(resample)
    resample.link_to(sink)
    graph.configure()
    picked: list[int] = []

    def drain() -> None:
        while True:
            try:
                pixels = sink.pull().to_ndarray()
            except (av.BlockingIOError, av.EOFError):
                return
            picked.append(int(pixels[0, 0]) + 256 * int(pixels[0, 1]))

    for i in range(count):
        pixels = np.zeros((8, 8), np.uint8)
        pixels[0, :2] = (i % 256, i // 256)
        frame = av.VideoFrame.from_ndarray(pixels, format="gray")
        frame.pts, frame.time_base = i, 1 / source_fps
        source.push(frame)
        drain()
    source.push(None)
    drain()
    return picked


@pytest.mark.parametrize("source_fps", [Fraction(16), Fraction(24), Fraction(30000, 1001)])
@pytest.mark.parametrize("fps", [8, 25])
def test_indices_match_libavfilter_fps(source_fps: Fraction, fps: int) -> None:
    """The rule against the filter itself, frame by frame over 12 s."""
    count = math.floor(12 * source_fps)
    picked = ffmpeg_fps_filter(source_fps, fps, count)
    assert picked[: 10 * fps] == fr.source_indices(source_fps, 0, 10, fps)


def test_delivery_h264_is_sampled_by_timestamp(tmp_path: Path) -> None:
    """A user's 30 fps H.264 mp4 (lossy, so frame i is coded coarsely as red = 8i)."""
    path = tmp_path / "clip.mp4"
    frames = (np.full((48, 64, 3), (8 * i, 128, 128), dtype=np.uint8) for i in range(32))
    write_video(path, frames, fps=Fraction(30), codec=h264())
    start, duration = 0.35, 0.65
    window = fr.window_frames(path, start, duration, clip_size=16, sync_size=16)
    for fps, got in ((8, window.clip), (25, (window.sync + 1) / 2)):
        decoded = [round(v * 255 / 8) for v in got[:, 0, 8, 8].tolist()]
        slots = math.floor(duration * fps)
        assert decoded == [training_pick(30, 32, start + k / fps, fps) for k in range(slots)]


def test_eight_seconds_give_mmaudio_lengths(tmp_path: Path) -> None:
    path = index_video(tmp_path / "v.mkv", 24, 8.5)
    assert fr.source_indices(Fraction(24), Fraction(1, 2), 8, 25)[:3] == [12, 13, 14]
    window = fr.window_frames(path, 0.5, 8.0, clip_size=16, sync_size=16)
    assert window.clip.shape[0] == 64 and window.sync.shape[0] == 200
    assert fr.segment_count(200) == 24
    assert 0.28 * 25 != 7 and fr.source_indices(Fraction(25), 0.28, 0.04, 25) == [7]


@pytest.mark.parametrize("duration", [8.0, 5.0, 5.1, 2.3, 0.64, 10.0])
def test_lengths_match_mmaudio_sequence_config(duration: float) -> None:
    clip_len = int(duration * 8)
    segments = (duration * 25 - 16) // 8 + 1
    sync_len = int(segments * 16 / 2)
    assert fr.slot_count(duration, 8) == clip_len
    assert fr.segment_count(fr.slot_count(duration, 25)) * 8 == sync_len


def test_window_past_the_end_holds_the_last_frame(tmp_path: Path) -> None:
    path = index_video(tmp_path / "v.mkv", 25, 1.0)
    window = fr.window_frames(path, 0.5, 1.0, clip_size=16, sync_size=16)
    assert red(window.sync, -1) == list(range(12, 25)) + [24] * 12
    with pytest.raises(MediaError, match="outside the video"):
        fr.window_frames(path, 1.0, 1.0)


def test_transforms_match_mmaudio_torchvision_pipeline() -> None:
    from torchvision.transforms import v2

    frame = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    batch = torch.from_numpy(frame).permute(2, 0, 1)[None]
    bicubic = v2.InterpolationMode.BICUBIC
    clip_reference = v2.Compose(
        [
            v2.Resize((384, 384), interpolation=bicubic),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    sync_reference = v2.Compose(
        [
            v2.Resize(224, interpolation=bicubic),
            v2.CenterCrop(224),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.5] * 3, std=[0.5] * 3),
        ]
    )
    assert torch.equal(fr.clip_transform(frame), clip_reference(batch)[0])
    assert torch.equal(fr.sync_transform(frame), sync_reference(batch)[0])
    assert fr.clip_transform(frame).shape == (3, 384, 384)
    assert fr.sync_transform(frame).shape == (3, 224, 224)


def test_sync_segments_slide_sixteen_frames_by_eight() -> None:
    frames = torch.arange(200.0).view(1, 200, 1, 1, 1).expand(2, 200, 3, 2, 2)
    segments = fr.sync_segments(frames)
    assert segments.shape == (2, 24, 16, 3, 2, 2)
    assert segments[1, 5, :, 2, 1, 0].tolist() == list(range(40, 56))
    assert fr.segment_count(15) == 0 and fr.segment_count(16) == 1 and fr.segment_count(31) == 2
    with pytest.raises(ValueError, match="at least 16 frames"):
        fr.sync_segments(frames[:, :15])


# -------------------------------------------------------------------------------------- CLIP


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip_folder(tmp_path_factory.mktemp("clip") / "DFN5B-tiny")


def test_clip_loads_offline_from_a_folder(clip_dir: Path, monkeypatch) -> None:
    import open_clip

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = ClipEncoder.load(clip_dir)
    frames = torch.rand(2, 3, 3, 384, 384)
    features = encoder.encode_images(frames, batch_size=4)
    assert features.shape == (2, 3, 24)
    assert torch.allclose(features.norm(dim=-1), torch.ones(2, 3))
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    reference = encoder.model.encode_image((frames[1] - mean) / std, normalize=True)
    assert torch.allclose(features[1], reference, atol=1e-5)

    prompts = ["rain on a tin roof", ""]
    reference_tokens = open_clip.get_tokenizer("ViT-H-14-378-quickgelu")(prompts)
    assert torch.equal(encoder.tokenize(prompts), reference_tokens)
    captured = {}
    hook = encoder.model.ln_final.register_forward_hook(lambda m, i, o: captured.update(out=o))
    encoder.model.encode_text(reference_tokens)
    hook.remove()
    text = encoder.encode_text(prompts)
    assert text.shape == (2, 77, 32)
    assert torch.allclose(text, torch.nn.functional.normalize(captured["out"], dim=-1), atol=1e-5)


def test_clip_from_hf_cache(clip_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    repo = cache / "models--apple--DFN5B-CLIP-ViT-H-14-384"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in clip_dir.iterdir():
        (snapshot / file.name).symlink_to(file)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    encoder = ClipEncoder.load("apple/DFN5B-CLIP-ViT-H-14-384", key="audio.clip")
    assert encoder.image_size == 384 and encoder.context_length == 77

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(
        UserError,
        match=r"^audio\.clip: model apple/DFN5B.*not in the Hugging Face cache; download it",
    ):
        ClipEncoder.load("apple/DFN5B-CLIP-ViT-H-14-384", key="audio.clip")


def test_clip_folder_errors_name_the_key(clip_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^audio\.clip: model folder not found"):
        ClipEncoder.load(tmp_path / "nowhere", key="audio.clip")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="has no open_clip_config.json"):
        ClipEncoder.load(empty, key="audio.clip")
    (empty / "open_clip_config.json").write_text((clip_dir / "open_clip_config.json").read_text())
    with pytest.raises(UserError, match=r"^audio\.clip: .*no weights file") as caught:
        ClipEncoder.load(empty, key="audio.clip")
    assert "\n" not in str(caught.value)


def test_modules_import_without_open_clip() -> None:
    code = (
        "import sys, stages.audio.mmaudio.clip, stages.audio.mmaudio.frames, "
        "stages.audio.mmaudio.synchformer; "
        "assert 'open_clip' not in sys.modules and 'torchvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# ------------------------------------------------------------------------------- Synchformer


def test_synchformer_official_layout_loads_strictly(tmp_path: Path) -> None:
    path = write_official_synchformer(tmp_path / "synchformer_state_dict.pth")
    state = convert_synchformer(path, TINY_SYNC)
    assert not any(key.startswith(("vfeat_extractor.", "afeat", "patch_embed.")) for key in state)
    model = build_synchformer(state, TINY_SYNC)
    assert not model.training
    frames = torch.rand(2, 40, 3, 32, 32) * 2 - 1
    features = model.encode(frames)
    assert features.shape == (2, fr.segment_count(40) * 8, 32)
    assert torch.allclose(model.encode(frames, segments_per_batch=3), features, atol=1e-5)
    one = model(fr.sync_segments(frames)[:1, 2:3])
    assert torch.allclose(one[0], features[0, 16:24], atol=1e-5)


@pytest.mark.parametrize("fault", ["missing", "extra", "shape"])
def test_synchformer_mismatch_names_the_key(tmp_path: Path, fault: str) -> None:
    state = official_synchformer_state(TINY_SYNC)
    key = "vfeat_extractor.blocks.1.timeattn.qkv.bias"
    if fault == "missing":
        state.pop(key)
    elif fault == "extra":
        key = "vfeat_extractor.blocks.2.norm1.weight"
        state[key] = torch.zeros(32)
    else:
        state[key] = torch.zeros(5)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatch, match=key.replace(".", r"\.")) as caught:
        convert_synchformer(path, TINY_SYNC)
    assert "\n" not in str(caught.value)


def test_synchformer_real_size_on_meta() -> None:
    real = SynchformerConfig()
    layout = official_synchformer_layout(real)
    assert official_shapes(real) == layout
    assert sum(math.prod(shape) for shape in layout.values()) == 122_440_704
    with torch.device("meta"):
        model = Synchformer(real)
    assert sum(p.numel() for p in model.parameters()) == 122_440_704 - 768 * 3 * 16 * 16 - 768
    features = model(torch.empty(1, 2, 16, 3, 224, 224, device="meta"))
    assert features.shape == (1, 16, 768)


def naive_attention(attn, x: torch.Tensor, steps: int, over_time: bool) -> torch.Tensor:
    """Token by token: CLS attends to all; a patch attends to CLS plus its time or space group."""
    batch, length, dim = x.shape
    heads = attn.heads
    q, k, v = (t.view(batch, length, heads, -1) for t in attn.qkv(x).chunk(3, dim=-1))
    q = q * q.shape[-1] ** -0.5
    patches = (length - 1) // steps
    out = torch.zeros_like(q)

    def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        weights = torch.einsum("hd,mhd->hm", query, keys).softmax(-1)
        return torch.einsum("hm,mhd->hd", weights, values)

    for b in range(batch):
        out[b, 0] = attend(q[b, 0], k[b], v[b])
        for frame in range(steps):
            for patch in range(patches):
                token = 1 + frame * patches + patch
                if over_time:
                    group = [0] + [1 + g * patches + patch for g in range(steps)]
                else:
                    group = [0] + [1 + frame * patches + g for g in range(patches)]
                out[b, token] = attend(q[b, token], k[b, group], v[b, group])
    return attn.proj(out.reshape(batch, length, dim))


def naive_synchformer(model: Synchformer, segments: torch.Tensor) -> torch.Tensor:
    """MotionFormer's forward written out: separate space/time position embeddings, divided
    blocks, final norm, then torch's own pre-norm TransformerEncoderLayer pooling each frame."""
    cfg = model.cfg
    video = segments.flatten(0, 1).transpose(1, 2)
    grid = model.patch_embed_3d.proj(video)  # (N, D, t, h, w)
    n, dim, steps, height, width = grid.shape
    tokens = [model.cls_token[0, 0] + model.pos_embed[0, 0]]
    rows = []
    for t in range(steps):
        for y in range(height):
            for x in range(width):
                position = model.pos_embed[0, 1 + y * width + x] + model.temp_embed[0, t]
                rows.append(grid[:, :, t, y, x] + position)
    x = torch.cat([tokens[0].expand(n, 1, dim), torch.stack(rows, dim=1)], dim=1)
    for block in model.blocks:
        x = x + naive_attention(block.timeattn, block.norm3(x), steps, True)
        x = x + naive_attention(block.attn, block.norm1(x), steps, False)
        x = x + block.mlp.fc2(torch.nn.functional.gelu(block.mlp.fc1(block.norm2(x))))
    x = model.norm(x[:, 1:]).reshape(n * steps, height * width, dim)
    layer = torch.nn.TransformerEncoderLayer(
        dim,
        cfg.num_heads,
        dim * cfg.mlp_ratio,
        dropout=0.0,
        activation=torch.nn.GELU(),
        layer_norm_eps=1e-6,
        batch_first=True,
        norm_first=True,
    ).eval()
    pool = {k: v for k, v in model.spatial_attn_agg.state_dict().items() if k != "cls_token"}
    layer.load_state_dict(pool, strict=True)
    cls = model.spatial_attn_agg.cls_token.expand(x.shape[0], 1, dim)
    pooled = layer(torch.cat([cls, x], dim=1))[:, 0]
    return pooled.view(segments.shape[0], segments.shape[1] * steps, dim)


def test_synchformer_matches_a_token_by_token_reference(tmp_path: Path) -> None:
    path = write_official_synchformer(tmp_path / "s.pth")
    model = build_synchformer(convert_synchformer(path, TINY_SYNC), TINY_SYNC)
    segments = torch.rand(1, 2, 16, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ours = model(segments)
        reference = naive_synchformer(model, segments)
    assert ours.shape == (1, 16, 32)
    assert torch.allclose(ours, reference, atol=1e-4), (ours - reference).abs().max()
