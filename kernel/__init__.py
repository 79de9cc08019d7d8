"""What runs on Kaggle: the kernel's entry point (``dogkit bundle``, in ``toolkit.kaggle.bundle``,
embeds it with dogkit's code in one script)."""
