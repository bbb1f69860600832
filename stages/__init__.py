"""renga's stages: what each node computes. Each backend is a small class named in config."""
