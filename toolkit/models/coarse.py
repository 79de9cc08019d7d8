"""Upsample-then-convolve and convolve-then-pool computed on the coarse grid, exactly.

Nearest 2x upsampling repeats each coarse pixel over a 2x2 block, so a 3x3 "same" convolution of the
upsampled map reads, for each output phase, only a 2x2 neighbourhood of coarse pixels. Per axis, with
taps (k0, k1, k2) at offsets (-1, 0, +1), the fine output at 2i is k0 x[i-1] + (k1+k2) x[i] and at
2i+1 is (k0+k1) x[i] + k2 x[i+1]: one stride-2 transposed convolution with the 4-tap kernel
(k2, k1+k2, k0+k1, k0) and TensorFlow's "SAME" padding (one row before). 16 multiply-adds per coarse
pixel instead of 36.

Likewise a 3x3 "same" convolution followed by a 2x2 average pool is one stride-2 convolution (one row
of zeros before and after) with the 4-tap kernel (k0, k0+k1, k1+k2, k2) / 2 per axis.

The derived kernels are built in the graph from the 3x3 weights, so the weights (and checkpoints)
stay those of the upsample-then-convolve formulation.
"""

from __future__ import annotations

import numpy as np

from toolkit.backend import keras, tf

# (4 taps, 3 taps) per axis: row a of the 4-tap kernel sums these of (k0, k1, k2)
UP_TAPS = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], np.float32)
POOL_TAPS = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], np.float32) / 2


def _combine(kernel, taps):
    """(3, 3, in, out) -> (4, 4, in, out): ``taps`` applied along both spatial axes."""
    taps = tf.constant(taps, kernel.dtype)
    return tf.einsum("at,bu,tuio->abio", taps, taps, kernel)


def upsample_kernel(kernel):
    """conv2d_transpose's (4, 4, out, in) kernel equal to nearest x2 upsampling then ``kernel`` (3, 3, in, out)."""
    return tf.transpose(_combine(kernel, UP_TAPS), (0, 1, 3, 2))


def pool_kernel(kernel):
    """The (4, 4, in, out) stride-2 kernel equal to ``kernel`` (3, 3, in, out) then 2x2 average pooling."""
    return _combine(kernel, POOL_TAPS)


def upsample_conv(x, kernel):
    """conv3x3_same(upsample_nearest_x2(x), kernel) for x (B, H, W, in), computed on the coarse grid.

    A 1x1 kernel commutes with the upsampling: it is applied first, then the result is repeated.
    """
    size = int(kernel.shape[0])
    if size == 1:
        return upsample_nearest(tf.nn.conv2d(x, kernel, strides=1, padding="VALID"))
    if size != 3:
        raise ValueError(f"upsample_conv handles 1x1 and 3x3 kernels, got {size}x{size}")
    _, h, w, _ = x.shape
    shape = tf.stack([tf.shape(x)[0], 2 * h, 2 * w, int(kernel.shape[-1])])
    return tf.nn.conv2d_transpose(x, upsample_kernel(kernel), shape, strides=2, padding="SAME")


def conv_pool(x, kernel):
    """avgpool2x2(conv_same(x, kernel)) for x (B, H, W, in) with H, W even, as one stride-2 convolution
    (a 1x1 kernel: pooled first)."""
    size = int(kernel.shape[0])
    if size == 1:
        return tf.nn.conv2d(downsample_mean(x), kernel, strides=1, padding="VALID")
    if size != 3:
        raise ValueError(f"conv_pool handles 1x1 and 3x3 kernels, got {size}x{size}")
    # padded apart, not by conv2d's explicit padding: TensorFlow's CPU gradients of an explicitly padded
    # stride-2 convolution are up to 4x slower than of a "VALID" one (bench_coarse, oneDNN)
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.nn.conv2d(padded, pool_kernel(kernel), strides=2, padding="VALID")


def upsample_nearest(x):
    """Nearest-neighbour upsampling x2 (a broadcast: quicker than tf.repeat on CPUs)."""
    _, h, w, c = x.shape
    x = tf.broadcast_to(x[:, :, None, :, None, :], (tf.shape(x)[0], h, 2, w, 2, c))
    return tf.reshape(x, (-1, 2 * h, 2 * w, c))


def downsample_mean(x):
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def conv_macs(height: int, width: int, kernel: int, channels_in: int, channels_out: int) -> int:
    """Multiply-adds of a stride-1 convolution producing a (height, width) map."""
    return height * width * kernel * kernel * channels_in * channels_out


def upsample_conv_macs(height: int, width: int, kernel: int, channels_in: int, channels_out: int) -> int:
    """Multiply-adds of ``upsample_conv`` from a (height, width) coarse map (a 3x3 kernel: 4x4 taps per
    coarse pixel; 1x1: applied before the upsampling)."""
    return conv_macs(height, width, 4 if kernel == 3 else 1, channels_in, channels_out)


def conv_pool_macs(height: int, width: int, kernel: int, channels_in: int, channels_out: int) -> int:
    """Multiply-adds of ``conv_pool`` on a (height, width) fine map."""
    return conv_macs(height // 2, width // 2, 4 if kernel == 3 else 1, channels_in, channels_out)


class UpsampleConv2D(keras.layers.Conv2D):
    """Nearest x2 upsampling then a 3x3 "same" ``Conv2D``, computed on the coarse grid.

    Its weights are the Conv2D's (same shapes, names and order), so a model built with
    ``UpSampling2D`` then ``Conv2D`` loads into it unchanged.
    """

    def __init__(self, filters: int, kernel_size: int = 3, **kwargs):
        if kernel_size != 3 or kwargs.get("padding", "same") != "same":
            raise ValueError("UpsampleConv2D is a 3x3 'same' convolution")
        super().__init__(filters, kernel_size, padding="same", **kwargs)

    def convolution_op(self, inputs, kernel):
        return upsample_conv(inputs, kernel)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)
