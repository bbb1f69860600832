"""A complete tiny MMAudio install, as a user's folders hold one: the official-layout flow, VAE
and Synchformer files in an MMAudio checkout's layout, a BigVGAN release folder and an open_clip
folder, plus the `audio.shapes` override that sizes renga's modules to them.

Every part comes from its own builder (tiny_mmaudio_flow/_cond/_decoder), written from the
official layouts; the sizes are chosen so the parts fit each other as the real ones do
(CLIP width -> flow clip/text dims, Synchformer width -> flow sync dim, VAE latent -> flow latent).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tiny_mmaudio_cond import TINY_CLIP, TINY_SYNC, write_clip_folder, write_official_synchformer
from tiny_mmaudio_decoder import tiny_decoder_config, write_official_vae, write_official_vocoder
from tiny_mmaudio_flow import TINY_FLOW, write_official_flow

DECODER = tiny_decoder_config("44k")
NETWORK = replace(
    TINY_FLOW,
    latent_dim=DECODER.latent_dim,
    clip_dim=TINY_CLIP["embed_dim"],
    text_dim=TINY_CLIP["text_cfg"]["width"],
    text_len=TINY_CLIP["text_cfg"]["context_length"],
    sync_dim=TINY_SYNC.embed_dim,
)


def shapes() -> dict[str, Any]:
    """The `audio.shapes` value for these files."""
    decoder = {
        k: v
        for k, v in asdict(DECODER).items()
        if k not in ("name", "sample_rate", "vae_file", "vocoder_ref")
    }
    network = {k: v for k, v in asdict(NETWORK).items() if k != "v2"}  # the variant's own
    return {"network": network, "synchformer": asdict(TINY_SYNC), "decoder": decoder}


def write_tiny_mmaudio(root: Path, v2: bool = True) -> dict[str, Path]:
    """All the files, under `root`; returns the folders the config points at."""
    weights = root / "mmaudio"
    (weights / "ext_weights").mkdir(parents=True)
    write_official_flow(weights / "weights" / "mmaudio_large_44k_v2.pth", replace(NETWORK, v2=v2))
    write_official_vae(weights / "ext_weights" / "v1-44.pth", DECODER)
    write_official_synchformer(weights / "ext_weights" / "synchformer_state_dict.pth", TINY_SYNC)
    write_official_vocoder(root / "bigvgan", DECODER)
    write_clip_folder(root / "clip")
    return {"weights_dir": weights, "vocoder": root / "bigvgan", "clip": root / "clip"}


def overrides(files: dict[str, Path]) -> list[str]:
    """CLI overrides that point `audio=mmaudio` at the tiny install."""
    return [
        f"audio.weights_dir={files['weights_dir']}",
        f"audio.vocoder={files['vocoder']}",
        f"audio.clip={files['clip']}",
        f"audio.shapes={json.dumps(shapes()).replace(chr(34), '')}",
    ]
