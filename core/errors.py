"""One exception type per kind of user mistake, so the UI and the CLIs can show a clear message.

Every error message says what was wrong and what to do about it.
"""


class UserError(Exception):
    """Base class: something the user gave us is wrong. ``str(err)`` is the message to show."""


class DataError(UserError):
    """A dataset path, layout or content is wrong (missing folder, one class, unknown class names)."""


class ArchiveError(DataError):
    """An uploaded or given archive is malformed, unsafe (path escapes, links) or too large."""


class ImageError(UserError):
    """A single image could not be used (not an image, corrupt, too large)."""


class CheckpointError(UserError):
    """A checkpoint folder is missing a file, or a file is corrupt or does not match the others."""


class ConfigError(UserError):
    """A hyper-parameter or option has an absurd value (negative learning rate, zero epochs, ...)."""


class JobError(UserError):
    """A background job cannot be started or controlled (one is already running, nothing to cancel)."""
