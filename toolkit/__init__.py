"""dogkit: build, check and submit entries to Kaggle's Generative Dog Images competition."""

__version__ = "0.2.0"
