"""Audio backends (`audio=`): the soundtrack levelled and mixed with speech (`track`), and
MMAudio's effects from the finished video (`mmaudio/`, also `audio=mix`).

May import: what every stage may (see `stages/__init__.py`), `stages.diffusion` for devices and
dtypes, and each other.
"""
