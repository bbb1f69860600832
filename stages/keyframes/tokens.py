"""How long a ZIT prompt is to its text encoder, to warn before words are silently cut off.

ZImagePipeline wraps the prompt in Qwen's chat template and truncates at
`max_sequence_length` tokens. Counting needs the model's tokenizer, which takes a second or
more to import and load, so a cheap estimate (about 4 characters a token in English) decides
first and the tokenizer counts only prompts that come near the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHARS_PER_TOKEN = 4
# Tokens the chat template adds around the prompt.
TEMPLATE_TOKENS = 10


def estimate(prompt: str) -> int:
    return len(prompt) // CHARS_PER_TOKEN + TEMPLATE_TOKENS


def count(source: str, prompts: Sequence[str]) -> list[int] | None:
    """Tokens of each prompt as the pipeline encodes it; None when the tokenizer won't load."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(
            source, subfolder="tokenizer", local_files_only=True
        )
    except (OSError, ValueError, ImportError):
        return None
    return [len(tokenizer(_templated(tokenizer, p)).input_ids) for p in prompts]


def _templated(tokenizer: Any, prompt: str) -> str:
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=True,
    )


def too_long(source: str, prompts: dict[str, str], limit: int) -> list[tuple[str, str]]:
    """(key, message) for each prompt over `limit` tokens."""
    near = {key: p for key, p in prompts.items() if estimate(p) > limit // 2}
    if not near:
        return []
    counted = count(source, list(near.values()))
    found = []
    for i, (key, prompt) in enumerate(near.items()):
        n, how = (counted[i], "") if counted else (estimate(prompt), "about ")
        if n > limit:
            found.append(
                (key, f"{how}{n} tokens, over keyframes.max_sequence_length={limit}; the text "
                 "encoder never sees the rest (shorten it or raise the limit)")
            )  # fmt: skip
    return found
