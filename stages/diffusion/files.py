"""Where model weights are: a local diffusers folder, a single file, or the Hugging Face cache;
offline unless `allow_download=true`, with the download command in the error."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from orchestrator.engine.errors import UserError
from stages.diffusion.spec import SINGLE_FILE_SUFFIXES


def download_command(repo: str, local_dir: str | None = None) -> str:
    target = local_dir or f"models/{repo.split('/')[-1]}"
    return f"hf download {repo} --local-dir {target}"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_repo(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~", "/"))


def _in_hf_cache(repo: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    return isinstance(found, str)


def locate(ref: str, key: str, allow_download: bool, marker: str = "model_index.json") -> str:
    """Plan time: the local folder or cached repo `ref` names, else one line with the fix.

    `marker` is the file the folder must hold (a pipeline's `model_index.json`, or
    `<subfolder>/config.json` for a single-file component's config).
    """
    path = Path(os.path.expanduser(ref))
    if path.is_dir():
        if not (path / marker).is_file():
            raise UserError(key, f"{path} is not a diffusers model folder (no {marker})")
        return str(path)
    if _looks_like_repo(ref) and not path.exists():
        if _in_hf_cache(ref, marker):
            return ref
        if allow_download and not offline():
            return ref
        how = (
            "HF_HUB_OFFLINE is set, so nothing is downloaded"
            if allow_download
            else "or set allow_download=true"
        )
        raise UserError(
            key,
            f"model {ref} is not in the Hugging Face cache; download it with "
            f"`{download_command(ref)}` and set {key}=models/{ref.split('/')[-1]} ({how})",
        )
    raise UserError(key, f"model folder not found: {path}")


def check_single_file(path: str, key: str) -> str:
    file = Path(os.path.expanduser(path)).absolute()
    if not file.is_file():
        raise UserError(key, f"file not found: {file}")
    if file.suffix not in SINGLE_FILE_SUFFIXES:
        raise UserError(key, f"expected a .safetensors or .gguf file, got {file.name}")
    if file.suffix == ".gguf" and importlib.util.find_spec("gguf") is None:
        raise UserError(key, "GGUF files need the gguf package: pip install gguf")
    return str(file)
