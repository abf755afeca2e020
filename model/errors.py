"""The project's own error types: every message is meant to be shown to a user as is."""


class FashionError(Exception):
    """Base class: a clear, user-facing problem (bad file, bad setting, bad image)."""


class DataError(FashionError):
    """A dataset file is missing, malformed or cannot be downloaded."""


class ModelFileError(FashionError):
    """A model file is corrupt, truncated, of the wrong shape or unsafe."""


class ImageError(FashionError):
    """An uploaded or drawn image cannot be turned into a 28x28 input."""


class ConfigError(FashionError):
    """A training setting is out of range or inconsistent."""


class PredictionError(FashionError):
    """A model gave no usable answer (its outputs are not numbers)."""
