"""MMAudio video-to-audio, our own implementation of its networks loading the official weights.

The weights are CC-BY-NC 4.0 (hkchengrex/MMAudio); renga ships none of them.
"""
