"""BigGAN at 64x64: a class-conditional GAN with spectral norm, self-attention, DiffAugment and an EMA generator."""
