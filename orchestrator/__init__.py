"""renga's engine: config, plan, graph, store and executors. Knows nothing about any model."""

__version__ = "0.1.0"
