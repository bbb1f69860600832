"""MMAudio video-to-audio, our own implementation of its networks loading the official weights.

The weights are CC-BY-NC 4.0 (hkchengrex/MMAudio); renga ships none of them.

Lives here: the stage (`stage`: `MMAudioAudio`, `MixAudio`), its weight files (`files`,
`checkpoint`, `flow_weights`, `decoder_weights`), the networks (`network`, `clip`,
`synchformer`, `decoder`, `variants`), sampling (`sampler`, `pipeline`) and the windows and
frames it reads (`windows`, `frames`). May import: what every stage may, `stages.audio.track`
and `stages.diffusion`.
"""
