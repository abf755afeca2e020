"""What one Fashion-MNIST example is: a 28x28 grey image (0-255) and one of ten class labels.

The engine's one definition of these sizes: the network's input and output widths, the
image pipeline's output and the data files' checks all read them from here.
"""

from __future__ import annotations

IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE  # 784: an image flattened row by row
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
N_CLASSES = len(CLASS_NAMES)
