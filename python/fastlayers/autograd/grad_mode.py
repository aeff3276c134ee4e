"""The thread-local switch that decides whether operations record the autograd graph."""
import functools
import threading

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled"]


class _State(threading.local):
    enabled = True  # a class attribute, so every new thread starts with grad mode on, as in torch


_state = _State()


def is_grad_enabled():
    """Whether operations on Tensors that require grad currently record the graph."""
    return _state.enabled


class _GradModeContext:
    """A context manager that sets grad mode to `_mode`; also a function decorator, with or without
    parentheses (`@no_grad()` and `@no_grad`)."""

    _mode = True

    def __new__(cls, func=None):
        instance = super().__new__(cls)
        return instance if func is None else instance(func)

    def __call__(self, func):
        context = type(self)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with context():  # a fresh context per call keeps recursion and threads independent
                return func(*args, **kwargs)

        return wrapper

    def __enter__(self):
        self._previous = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc_info):
        _state.enabled = self._previous
        return False


class no_grad(_GradModeContext):
    """Operations inside do not record the graph; their results do not require grad."""

    _mode = False


class enable_grad(_GradModeContext):
    """Turns graph recording back on, e.g. inside a `no_grad` block."""

    _mode = True


class set_grad_enabled:
    """Sets grad mode to `mode` immediately; as a context manager, restores the previous mode on exit."""

    def __init__(self, mode):
        self._previous = _state.enabled
        _state.enabled = bool(mode)

    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        _state.enabled = self._previous
        return False
