"""The seed projects' DCGANs, in Keras 3.

- ``dcgan``: the TensorFlow-tutorial layer stack scaled to 64x64: a 2,733,507-parameter generator
  (Dense 100 -> 8x8x256, three 5x5 stride-2 transposed convolutions) and a 242,561-parameter
  discriminator (two 5x5 stride-2 convolutions, dropout, Dense 1). Adam 1e-4 with beta_1 0.5 (the
  tutorial's 0.9 diverged in bench_quality's FID curve).
- ``dcgan-radford``: Radford et al. (2015) for 64x64: 4x4 transposed convolutions from 100-d noise
  through 512/256/128/64 channels with BatchNorm and ReLU; strided convolutions with LeakyReLU 0.2
  and BatchNorm in the discriminator; Adam 2e-4 with beta_1 0.5; horizontal flips of the data.

Both generate (B, 64, 64, 3) in [-1, 1] (tanh) and score images with one logit.
"""

from __future__ import annotations

from toolkit.backend import keras
from toolkit.models.dcgan.config import DcganConfig

NOISE_DIM = 100


def build_dcgan_generator() -> keras.Model:
    """100-d noise -> (64, 64, 3) in [-1, 1]; exactly 2,733,507 parameters."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((NOISE_DIM,)),
            layers.Dense(8 * 8 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((8, 8, 256)),
            layers.Conv2DTranspose(128, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(3, 5, strides=2, padding="same", activation="tanh"),
        ],
        name="generator",
    )


def build_dcgan_discriminator(dropout: float = 0.3) -> keras.Model:
    """(64, 64, 3) in [-1, 1] -> one logit; exactly 242,561 parameters."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(dropout),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(dropout),
            layers.Flatten(),
            layers.Dense(1),
        ],
        name="discriminator",
    )


def _radford_init():
    return keras.initializers.RandomNormal(stddev=0.02)  # as in the paper


def build_radford_generator() -> keras.Model:
    layers = keras.layers
    stack = [keras.Input((NOISE_DIM,)), layers.Reshape((1, 1, NOISE_DIM))]
    for k, filters in enumerate((512, 256, 128, 64)):
        stack += [
            layers.Conv2DTranspose(
                filters,
                4,
                strides=1 if k == 0 else 2,
                padding="valid" if k == 0 else "same",
                use_bias=False,
                kernel_initializer=_radford_init(),
            ),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]
    stack.append(
        layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh", kernel_initializer=_radford_init())
    )
    return keras.Sequential(stack, name="generator")


def build_radford_discriminator() -> keras.Model:
    layers = keras.layers
    stack = [keras.Input((64, 64, 3))]
    for k, filters in enumerate((64, 128, 256, 512)):
        stack.append(
            layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=k == 0, kernel_initializer=_radford_init())
        )
        if k:
            stack.append(layers.BatchNormalization())
        stack.append(layers.LeakyReLU(negative_slope=0.2))
    stack += [layers.Conv2D(1, 4, padding="valid", kernel_initializer=_radford_init()), layers.Flatten()]
    return keras.Sequential(stack, name="discriminator")


def build_networks(config: DcganConfig) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) for the config's architecture."""
    if config.ARCHITECTURE == "radford":
        return build_radford_generator(), build_radford_discriminator()
    return build_dcgan_generator(), build_dcgan_discriminator(config.dropout)
