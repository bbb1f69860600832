"""The engine: a DAG of nodes run against a content-addressed store.

Lives here: nodes and cache keys (`graph`), the store and its integrity checks (`store`,
`integrity`), the local and Ray executors, what a running node gets and the model-pool protocol
(`context`), progress and the summary (`progress`), what the user is told (`errors`: errors,
warnings, status lines) and SIGINT/SIGTERM (`signals`).

May import: the standard library, filelock, rich, ray (lazily), and `orchestrator.__version__`.
Nothing else of renga, and nothing of video, audio, images, Hydra or a model library: the engine
runs any graph and knows nothing of what its nodes compute.
"""
