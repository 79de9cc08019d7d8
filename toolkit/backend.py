"""TensorFlow and Keras 3, imported quietly and with the TensorFlow backend.

Importing this module costs seconds; only the modules that train, sample or extract features
import it, and only when those commands run. TensorFlow's C++ start-up lines (oneDNN notices,
"could not find cuda drivers", ...) are written straight to file descriptor 2 before any
logging setting applies; they are captured while TensorFlow starts and shown only if it fails.

``DOGKIT_LOGICAL_CPUS=N`` splits the CPU into N logical devices before TensorFlow starts its
runtime, so that the mirrored strategy can be exercised on a machine without GPUs.
"""

import contextlib
import logging
import os
import sys
import tempfile
import time

# Hide TensorFlow's C++ log lines, errors included: grappler's "remapper failed" and the like are
# diagnostics of TensorFlow's own optimizer passes; failures that matter surface as exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# dogkit's training loops use tf.function, GradientTape and tf.distribute: Keras must run on TF.
os.environ["KERAS_BACKEND"] = "tensorflow"


@contextlib.contextmanager
def _captured_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


with _captured_stderr():
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
        raise ImportError(f"dogkit needs Keras on the TensorFlow backend, not {keras.backend.backend()!r}")
    _logical_cpus = int(os.environ.get("DOGKIT_LOGICAL_CPUS", "0") or 0)
    if _logical_cpus > 1:
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * _logical_cpus
        )
    tf.config.list_logical_devices()  # start the runtime now, while its start-up lines are captured

# tf.distribute logs every reduction at INFO; dogkit's own INFO lines are the ones a user reads
logging.getLogger("tensorflow").setLevel(logging.WARNING)

READY_AT = time.monotonic()  # TensorFlow loaded: a new process's start-up until here is what `dogkit pack` pays

__all__ = ["READY_AT", "keras", "tf"]
