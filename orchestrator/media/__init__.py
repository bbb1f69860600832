"""Media I/O on PyAV, streaming: frames through iterators, audio in bounded blocks.

Lives here: opening files and `MediaError` (`container`), reading video (`video`), encoding
(`encode`, with the settings that make the same frames give the same bytes in `encoding`),
audio (`audio`, with the libsndfile fallback in `sndfile`), images (`images`) and the metadata
renga embeds and reads back (`metadata`).

May import: `engine.errors` only.
"""
