"""Video backends (`video=`): the draft Ken-Burns motion (`draft`) and Wan 2.2 image-to-video
(`wan`, both A14B experts and TI2V-5B).

May import: what every stage may (see `stages/__init__.py`), `stages.diffusion` and
`stages.motion`.
"""
