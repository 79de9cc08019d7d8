"""BigGAN's generator and projection discriminator at 64x64 (Brock et al. 2019), widths from one ``ch``.

Generator G([z (B, z_dim), labels (B,) int32]) -> (B, 64, 64, 3) in [-1, 1]:
    z splits into 5 chunks: z0 -> SN linear -> 4x4x16ch; chunk i+1 with the shared class embedding
    (shared_dim) conditions up-block i's batch norms. Up-blocks 16ch -> 8ch -> 4ch -> 2ch -> ch at
    8, 16, 32, 64 pixels, self-attention at 32x32, then BN, ReLU, SN conv 3x3 to RGB and tanh.
    Up-block: CBN ReLU up2 conv3x3 CBN ReLU conv3x3, plus conv1x1 up2 (nearest upsampling, which
    commutes with a 1x1 convolution). With coarse_grid (the default), up2 conv3x3 is computed on
    the coarse grid (toolkit.models.coarse): same weights, same function.
Discriminator D([images (B, 64, 64, 3), labels (B,)]) -> (B,) logits:
    down-blocks 3 -> ch -> 2ch -> 4ch -> 8ch at 32, 16, 8, 4 pixels, self-attention at 32x32, a last
    block 8ch -> 16ch at 4x4, ReLU, global sum pooling to h (B, 16ch); the logit is SN linear(h) plus
    the projection term <SN embedding(label), h>.
    Down-block: [ReLU] conv3x3 ReLU conv3x3 avgpool2, plus conv1x1 and avgpool2; the first block
    has no leading ReLU. With coarse_grid (the default), conv3x3 avgpool2 is one stride-2 4x4
    convolution and every shortcut pools before its 1x1 convolution (the two commute); without
    it, the first block pools first and the later ones convolve first (BigGAN-PyTorch's DBlock).

Every dense, convolution, attention and embedding weight is spectrally normalised except the
generator's shared embedding, which (as in BigGAN) only feeds the SN gain and bias linears.
"""

from __future__ import annotations

import math

from toolkit.backend import keras, tf
from toolkit.models.biggan.config import G_BLOCKS, BigganConfig
from toolkit.models.biggan.layers import (
    BatchStatistics,
    ConditionalBatchNorm,
    SelfAttention,
    SNConv2D,
    SNDense,
    SNEmbedding,
)
from toolkit.models.coarse import downsample_mean, upsample_nearest

G_MULTIPLIERS = (16, 8, 4, 2, 1)  # generator channels / ch at 4, 8, 16, 32, 64 pixels
D_MULTIPLIERS = (1, 2, 4, 8, 16)  # discriminator channels / ch after each block (32, 16, 8, 4, 4 pixels)
ATTENTION_RESOLUTION = 32
BN_MOMENTUM = 0.9  # PyTorch's 0.1, the trained generator's running statistics
EMA_NAME = "ema_generator"  # the name of the EMA copy's model


_up = upsample_nearest
_down = downsample_mean


class GeneratorBlock(keras.layers.Layer):
    """BigGAN's residual up-block, called on ``[x (B, H, W, in), cond (B, c)]`` -> (B, 2H, 2W, out)."""

    def __init__(
        self,
        channels_in: int,
        channels_out: int,
        momentum: float,
        power_iterations: bool,
        coarse_grid: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels_out = channels_out
        self.coarse_grid = coarse_grid
        sn = {"power_iterations": power_iterations, "dtype": self.dtype_policy}
        self.bn1 = ConditionalBatchNorm(channels_in, momentum, name="bn1", **sn)
        self.conv1 = SNConv2D(channels_out, 3, name="conv1", resample="up" if coarse_grid else None, **sn)
        self.bn2 = ConditionalBatchNorm(channels_out, momentum, name="bn2", **sn)
        self.conv2 = SNConv2D(channels_out, 3, name="conv2", **sn)
        self.shortcut = SNConv2D(channels_out, 1, name="shortcut", **sn)

    def build(self, input_shapes):
        (b, h, w, c), cond = input_shapes
        up, out = (b, 2 * h, 2 * w, c), (b, 2 * h, 2 * w, self.channels_out)
        self.bn1.build(input_shapes)
        self.conv1.build(up)
        self.bn2.build((out, cond))
        self.conv2.build(out)
        self.shortcut.build((b, h, w, c))

    def call(self, inputs, training=False):
        x, cond = inputs
        h = tf.nn.relu(self.bn1([x, cond], training=training))
        h = self.conv1(h if self.coarse_grid else _up(h), training=training)
        h = tf.nn.relu(self.bn2([h, cond], training=training))
        h = self.conv2(h, training=training)
        # conv1x1 then upsample: the same as BigGAN's upsample then conv1x1, on a quarter of the positions
        return h + _up(self.shortcut(x, training=training))

    def compute_output_shape(self, input_shapes):
        b, h, w, _ = input_shapes[0]
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.channels_out)


class DiscriminatorBlock(keras.layers.Layer):
    """BigGAN's residual down-block (B, H, W, in) -> (B, H/2, W/2, out), or (B, H, W, out) without ``downsample``."""

    def __init__(self, channels_out: int, downsample: bool, preactivation: bool, coarse_grid: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels_out = channels_out
        self.downsample = downsample
        self.preactivation = preactivation
        self.coarse_grid = coarse_grid
        self.conv1 = SNConv2D(channels_out, 3, name="conv1", dtype=self.dtype_policy)
        pool = "pool" if coarse_grid and downsample else None
        self.conv2 = SNConv2D(channels_out, 3, name="conv2", resample=pool, dtype=self.dtype_policy)
        self.shortcut = SNConv2D(channels_out, 1, name="shortcut", dtype=self.dtype_policy)

    def build(self, input_shape):
        b, h, w, _ = input_shape
        out = (b, h, w, self.channels_out)
        self.conv1.build(input_shape)
        self.conv2.build(out)
        self.shortcut.build(input_shape)

    def call(self, x, training=False):
        h = tf.nn.relu(x) if self.preactivation else x
        h = self.conv1(h, training=training)
        h = self.conv2(tf.nn.relu(h), training=training)
        if self.downsample and not self.coarse_grid:
            h = _down(h)
        if self.preactivation and not self.coarse_grid:  # BigGAN-PyTorch's order: convolve, then pool
            shortcut = self.shortcut(x, training=training)
            shortcut = _down(shortcut) if self.downsample else shortcut
        else:  # pool first: the same function (both linear) on a quarter of the positions
            shortcut = self.shortcut(_down(x) if self.downsample else x, training=training)
        return h + shortcut

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if self.downsample:
            h, w = (None if h is None else h // 2), (None if w is None else w // 2)
        return (b, h, w, self.channels_out)


class SumPooling(keras.layers.Layer):
    """(B, H, W, C) -> (B, C) float32: the sum over positions."""

    def call(self, x):
        return tf.reduce_sum(tf.cast(x, tf.float32), axis=[1, 2])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


class ProjectionHead(keras.layers.Layer):
    """Called on ``[h (B, F), labels (B,)]`` -> (B,): linear(h) + <embedding(label), h> (Miyato & Koyama 2018)."""

    def __init__(self, classes: int, features: int, **kwargs):
        super().__init__(**kwargs)
        self.linear = SNDense(1, name="linear", dtype=self.dtype_policy)
        self.embedding = SNEmbedding(classes, features, name="embedding", dtype=self.dtype_policy)

    def build(self, input_shapes):
        h_shape, labels_shape = input_shapes
        self.linear.build(h_shape)
        self.embedding.build(labels_shape)

    def call(self, inputs, training=False):
        h, labels = inputs
        projection = tf.reduce_sum(self.embedding(labels, training=training) * h, axis=-1)
        return self.linear(h, training=training)[:, 0] + projection

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0],)


def build_generator(
    config: BigganConfig, classes: int, dtype: str = "float32", ema: bool = False, coarse_grid: bool = True
) -> keras.Model:
    """The generator (see the module docstring).

    Args:
        config: Widths and latent sizes.
        classes: Number of class labels (breeds, "unknown" among them when present).
        dtype: Keras dtype policy of the hidden layers ("float32" or "mixed_float16"); the RGB
            convolution and tanh stay float32.
        ema: Build the EMA copy: batch norms keep each training call's batch statistics (momentum 0,
            for standing statistics) and spectral norms never update their ``u``.
        coarse_grid: Compute upsample-then-convolve on the coarse grid (the same function and
            weights); False builds the plain formulation (the benchmark's baseline).

    Returns:
        A Keras model on ``[z, labels]``; its weights are in the same order for ``ema`` True and False.
    """
    ch = config.width
    momentum, power = (0.0, False) if ema else (BN_MOMENTUM, True)
    z = keras.Input((config.z_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    chunks = keras.ops.split(z, G_BLOCKS + 1, axis=-1)
    shared = keras.layers.Embedding(
        classes, config.shared_dim, embeddings_initializer=keras.initializers.Orthogonal(), name="shared", dtype=dtype
    )(labels)
    h = SNDense(4 * 4 * G_MULTIPLIERS[0] * ch, power_iterations=power, name="linear", dtype=dtype)(chunks[0])
    h = keras.layers.Reshape((4, 4, G_MULTIPLIERS[0] * ch), dtype=dtype)(h)
    resolution = 4
    for k in range(G_BLOCKS):
        cond = keras.layers.Concatenate(dtype=dtype, name=f"cond{k + 1}")([shared, chunks[k + 1]])
        block = GeneratorBlock(
            G_MULTIPLIERS[k] * ch,
            G_MULTIPLIERS[k + 1] * ch,
            momentum,
            power,
            coarse_grid=coarse_grid,
            name=f"block{k + 1}",
            dtype=dtype,
        )
        h = block([h, cond])
        resolution *= 2
        if resolution == ATTENTION_RESOLUTION:
            h = SelfAttention(G_MULTIPLIERS[k + 1] * ch, power_iterations=power, name="attention", dtype=dtype)(h)
    h = BatchStatistics(momentum, affine=True, name="out_bn", dtype=dtype)(h)
    h = keras.layers.ReLU(dtype=dtype)(h)
    h = SNConv2D(3, 3, power_iterations=power, name="rgb", dtype="float32")(h)
    images = keras.layers.Activation("tanh", dtype="float32")(h)
    return keras.Model([z, labels], images, name=EMA_NAME if ema else "generator")


def build_discriminator(
    config: BigganConfig, classes: int, dtype: str = "float32", coarse_grid: bool = True
) -> keras.Model:
    """The projection discriminator (see the module docstring); its head is float32. ``coarse_grid``
    computes convolve-then-pool as one stride-2 convolution (the same function and weights).

    Returns:
        A Keras model on ``[images (B, 64, 64, 3) in [-1, 1], labels (B,)]`` giving (B,) logits; its
        layer "pooled" gives the features h (B, 16ch) and "projection" is the head.
    """
    ch = config.width
    images = keras.Input((64, 64, 3), name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    h, resolution = images, 64
    for k, multiplier in enumerate(D_MULTIPLIERS):
        downsample = k < len(D_MULTIPLIERS) - 1
        block = DiscriminatorBlock(
            multiplier * ch, downsample, k > 0, coarse_grid=coarse_grid, name=f"block{k + 1}", dtype=dtype
        )
        h = block(h)
        resolution //= 2 if downsample else 1
        if resolution == ATTENTION_RESOLUTION:
            h = SelfAttention(multiplier * ch, name="attention", dtype=dtype)(h)
    h = keras.layers.ReLU(dtype=dtype)(h)
    pooled = SumPooling(name="pooled", dtype="float32")(h)
    logits = ProjectionHead(classes, D_MULTIPLIERS[-1] * ch, name="projection", dtype="float32")([pooled, labels])
    return keras.Model([images, labels], logits, name="discriminator")


def trainable_count(model: keras.Model) -> int:
    """Trainable parameters (the SN ``u`` vectors and batch-norm statistics are state, not parameters)."""
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))
