"""Keyframe backends (`keyframes=`): draft cards (`draft`), the user's own images (`images`) and
Z-Image Turbo (`zit`, with its prompt tokens and schedulers).

May import: what every stage may (see `stages/__init__.py`) and `stages.diffusion`.
"""
