"""BigGAN's building blocks as Keras 3 layers: spectrally normalised dense, convolution and embedding,
batch statistics, conditional batch norm and SAGAN self-attention.

Spectral normalisation (Miyato et al. 2018): a weight W, seen as a matrix (inputs, outputs), is used
as W / sigma, sigma its largest singular value, estimated by power iteration from a persistent vector
u (outputs,): v = normalise(u W^T), u' = normalise(v W), sigma = v W u'^T. Every call in training mode
runs one iteration and keeps u'; in inference the same iteration is computed and dropped, so that
generating never changes a weight. u and v are constants to the gradient, as in the paper.

Every weight starts orthogonal (BigGAN). Variables stay float32 and are read without autocasting:
under mixed_float16 the power iteration and the batch statistics run in float32, and only the
normalised kernel is cast to the layer's compute dtype.
"""

from __future__ import annotations

from toolkit.backend import keras, tf
from toolkit.models.coarse import conv_pool, upsample_conv

RESAMPLE = (None, "up", "pool")  # SNConv2D's: none, nearest x2 before, 2x2 average pool after

U_NAME = "sn_u"  # the name of every spectral norm's persistent vector


def power_iteration(matrix, u):
    """One power-iteration step towards the largest singular value of ``matrix``.

    Args:
        matrix: (m, n) float32.
        u: (1, n) float32, the current estimate of the top right-singular vector.

    Returns:
        (sigma, u_new): the estimate v W u_new^T (a scalar, differentiable in ``matrix``) and the next
        vector (1, n), which gradients do not reach.
    """
    v = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(u, matrix, transpose_b=True), axis=-1))  # (1, m)
    u_new = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(v, matrix), axis=-1))  # (1, n)
    sigma = tf.reduce_sum(tf.matmul(v, matrix) * u_new)
    return sigma, u_new


class SpectralLayer(keras.layers.Layer):
    """A layer whose ``kernel`` is used divided by its spectral norm (see the module docstring).

    Args:
        power_iterations: Whether training calls update ``u``. The EMA generator's layers do not: its
            ``u`` are copied from the trained generator's.
    """

    def __init__(self, power_iterations: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.power_iterations = power_iterations

    def _add_kernel(self, shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight(
            shape=shape, initializer=keras.initializers.Orthogonal(), name="kernel", autocast=False
        )
        # "mean": updated in each replica's step to the same value, so mirrored copies stay equal
        self.u = self.add_weight(
            shape=(1, shape[-1]),
            initializer=keras.initializers.RandomNormal(),
            name=U_NAME,
            trainable=False,
            autocast=False,
            aggregation="mean",
        )

    def spectral_norm(self):
        """The current estimate of the kernel's largest singular value (float32 scalar; ``u`` unchanged)."""
        sigma, _ = power_iteration(tf.reshape(self.kernel, (-1, self.kernel.shape[-1])), self.u)
        return sigma

    def normalized_kernel(self, training=False):
        """The kernel divided by its spectral norm, in the compute dtype; a training call updates ``u``."""
        kernel = tf.convert_to_tensor(self.kernel)
        sigma, u_new = power_iteration(tf.reshape(kernel, (-1, kernel.shape[-1])), self.u)
        if training and self.power_iterations:
            self.u.assign(u_new)
        return tf.cast(kernel / sigma, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


class SNDense(SpectralLayer):
    """x W / sigma(W) + b."""

    def __init__(self, units: int, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias

    def build(self, input_shape):
        self._add_kernel((int(input_shape[-1]), self.units))
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, training=False):
        out = tf.matmul(inputs, self.normalized_kernel(training))
        return out + self.bias if self.use_bias else out

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)


class SNConv2D(SpectralLayer):
    """A stride-1, "same"-padded convolution with a spectrally normalised kernel (kh, kw, in, out).

    ``resample`` "up" convolves the nearest x2 upsampling of its input, "pool" average-pools its output
    2x2; both computed on the coarse grid (toolkit.models.coarse) from the same kernel.
    """

    def __init__(self, filters: int, kernel_size: int, use_bias: bool = True, resample: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if resample not in RESAMPLE:
            raise ValueError(f"resample must be one of {RESAMPLE}, got {resample!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.use_bias = use_bias
        self.resample = resample

    def build(self, input_shape):
        k = self.kernel_size
        self._add_kernel((k, k, int(input_shape[-1]), self.filters))
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, inputs, training=False):
        kernel = self.normalized_kernel(training)
        if self.resample == "up":
            out = upsample_conv(inputs, kernel)
        elif self.resample == "pool":
            out = conv_pool(inputs, kernel)
        else:
            out = tf.nn.conv2d(inputs, kernel, strides=1, padding="SAME")
        return out + self.bias if self.use_bias else out

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        scale = {"up": 2.0, "pool": 0.5}.get(self.resample, 1.0)
        if scale != 1.0:
            h, w = (None if h is None else int(h * scale)), (None if w is None else int(w * scale))
        return (b, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "resample": self.resample}


class SNEmbedding(SpectralLayer):
    """Rows of a spectrally normalised (classes, dim) table, looked up by int labels (B,) -> (B, dim)."""

    def __init__(self, classes: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes
        self.dim = dim

    def build(self, input_shape):
        self._add_kernel((self.classes, self.dim))

    def call(self, labels, training=False):
        return tf.gather(self.normalized_kernel(training), tf.cast(labels, tf.int32))

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)


class BatchStatistics(keras.layers.Layer):
    """Batch normalisation over (B, H, W) with statistics in float32; with ``affine``, a learnt per-channel
    scale and offset.

    Training calls normalise with the batch's mean and (biased) variance and move the stored ones
    towards them: stored = momentum * stored + (1 - momentum) * batch. With ``momentum`` 0 the stored
    statistics are the last batch's: the EMA generator's standing statistics are means of those.
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, affine: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.affine = affine

    def build(self, input_shape):
        channels = (int(input_shape[-1]),)
        stat = {"trainable": False, "autocast": False, "aggregation": "mean"}
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", name="moving_mean", **stat)
        self.moving_variance = self.add_weight(shape=channels, initializer="ones", name="moving_variance", **stat)
        if self.affine:
            self.gamma = self.add_weight(shape=channels, initializer="ones", name="gamma", autocast=False)
            self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta", autocast=False)

    def moments(self, inputs, training=False):
        """(mean, variance) (C,) float32 to normalise ``inputs`` with: the batch's in training (the stored
        ones move towards them), else the stored ones."""
        if not training:
            return tf.convert_to_tensor(self.moving_mean), tf.convert_to_tensor(self.moving_variance)
        mean, variance = tf.nn.moments(tf.cast(inputs, tf.float32), axes=[0, 1, 2])  # float16 sums overflow
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
        self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * variance)
        return mean, variance

    def call(self, inputs, training=False):
        mean, variance = self.moments(inputs, training)
        scale = tf.math.rsqrt(variance + self.epsilon)
        if self.affine:
            scale = scale * self.gamma
            return inputs * tf.cast(scale, self.compute_dtype) + tf.cast(self.beta - mean * scale, self.compute_dtype)
        return inputs * tf.cast(scale, self.compute_dtype) - tf.cast(mean * scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon, "affine": self.affine}


class ConditionalBatchNorm(keras.layers.Layer):
    """BigGAN's conditional batch norm: BN(x) * (1 + gain(c)) + bias(c), gain and bias SN linears of the
    conditioning vector c (no bias terms of their own).

    Called on ``[x (B, H, W, channels), c (B, cond)]``.
    """

    def __init__(self, channels: int, momentum: float = 0.9, power_iterations: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.stats = BatchStatistics(momentum, dtype=self.dtype_policy, name="stats")
        sn = {"use_bias": False, "power_iterations": power_iterations, "dtype": self.dtype_policy}
        self.gain = SNDense(channels, name="gain", **sn)
        self.offset = SNDense(channels, name="offset", **sn)

    def build(self, input_shapes):
        x_shape, c_shape = input_shapes
        self.stats.build(x_shape)
        self.gain.build(c_shape)
        self.offset.build(c_shape)

    def call(self, inputs, training=False):
        x, cond = inputs
        mean, variance = self.stats.moments(x, training)
        # one multiply-add over the feature map: scale and shift per image and channel (B, C), in float32
        gain = 1.0 + tf.cast(self.gain(cond, training=training), tf.float32)
        scale = tf.math.rsqrt(variance + self.stats.epsilon) * gain
        shift = tf.cast(self.offset(cond, training=training), tf.float32) - mean * scale
        dtype = self.compute_dtype
        return x * tf.cast(scale, dtype)[:, None, None, :] + tf.cast(shift, dtype)[:, None, None, :]

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def _pool(x):
    return tf.nn.max_pool2d(x, 2, 2, "VALID")


class SelfAttention(keras.layers.Layer):
    """SAGAN self-attention as BigGAN has it: x + gamma * o(g(x) softmax(theta(x) phi(x)^T)), where phi
    and g are max-pooled 2x2 (a quarter of the keys), theta and phi have channels/8, g channels/2,
    every 1x1 convolution spectrally normalised and bias-free, and gamma starts at 0 (the block begins
    as the identity)."""

    def __init__(self, channels: int, power_iterations: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        key, value = max(1, channels // 8), max(1, channels // 2)
        conv = {"use_bias": False, "power_iterations": power_iterations, "dtype": self.dtype_policy}
        self.theta = SNConv2D(key, 1, name="theta", **conv)
        self.phi = SNConv2D(key, 1, name="phi", **conv)
        self.g = SNConv2D(value, 1, name="g", **conv)
        self.o = SNConv2D(channels, 1, name="o", **conv)

    def build(self, input_shape):
        for layer in (self.theta, self.phi, self.g):
            layer.build(input_shape)
        self.o.build((*input_shape[:-1], self.g.filters))
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma", autocast=False)

    def call(self, x, training=False):
        _, h, w, _ = x.shape
        theta = tf.reshape(self.theta(x, training=training), (-1, h * w, self.theta.filters))
        phi = tf.reshape(_pool(self.phi(x, training=training)), (-1, h * w // 4, self.phi.filters))
        g = tf.reshape(_pool(self.g(x, training=training)), (-1, h * w // 4, self.g.filters))
        scores = tf.matmul(tf.cast(theta, tf.float32), tf.cast(phi, tf.float32), transpose_b=True)
        attention = tf.cast(tf.nn.softmax(scores, axis=-1), x.dtype)  # (B, hw, hw/4)
        out = tf.reshape(tf.matmul(attention, g), (-1, h, w, self.g.filters))
        return x + tf.cast(self.gamma, x.dtype) * self.o(out, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape
