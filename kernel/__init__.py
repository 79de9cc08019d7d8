"""What runs on Kaggle: the kernel entry point, the single-file bundler, kernel metadata."""
