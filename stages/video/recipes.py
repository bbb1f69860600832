"""The model authors' own sampling recipes, where a video backend's defaults come from.

The backends' constructor defaults; conf/video/*.yaml repeats them (Hydra reads no Python),
and tests/test_recipes.py checks both against the values copied from the authors' files.
"""

from __future__ import annotations

# Wan2.2 wan/configs/shared_config.py `sample_neg_prompt`: what wan/image2video.py and
# wan/textimage2video.py encode as the unconditional text when `n_prompt` is left empty.
# SkyReels-V2 generate_video_df.py (diffusion forcing) passes the same string to its pipeline
# (its generate_video.py, for the other models, an English translation of it).
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
SKYREELS_NEGATIVE_PROMPT = WAN_NEGATIVE_PROMPT

# Lightricks LTX-2 packages/ltx-pipelines/src/ltx_pipelines/utils/constants.py
# `DEFAULT_NEGATIVE_PROMPT`: what its pipelines' `--negative-prompt` defaults to (sound terms
# included: the model makes the clip's audio too).
LTX2_NEGATIVE_PROMPT = (
    "has_subtitles, has_blurbox, transition from black, transition to black, "
    "speech_ending_short, blurry, out of focus, overexposed, underexposed, low contrast, "
    "washed out colors, excessive noise, grainy texture, poor lighting, flickering, motion "
    "blur, distorted proportions, unnatural skin tones, deformed facial features, "
    "asymmetrical face, missing facial features, extra limbs, disfigured hands, wrong hand "
    "count, artifacts around text, inconsistent perspective, camera shake, incorrect depth of "
    "field, background too sharp, background clutter, distracting reflections, harsh shadows, "
    "inconsistent lighting direction, color banding, cartoonish rendering, 3D CGI look, "
    "unrealistic materials, uncanny valley effect, incorrect ethnicity, wrong gender, "
    "exaggerated expressions, wrong gaze direction, mismatched lip sync, silent or muted "
    "audio, distorted voice, robotic voice, echo, background noise, off-sync audio, incorrect "
    "dialogue, added dialogue, repetitive speech, jittery movement, awkward pauses, incorrect "
    "timing, unnatural transitions, inconsistent framing, tilted camera, flat lighting, "
    "inconsistent tone, cinematic oversaturation, stylized filters, or AI artifacts."
)
