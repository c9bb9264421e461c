"""Clear errors for Keras names that cyneuron does not have.

A script written for Keras and renamed to cyneuron may ask for a layer, an optimizer or a whole
namespace (``keras.ops``) that cyneuron lacks. Instead of Python's bare "cannot import name" or
"has no attribute", the error says that the name is Keras' and not available in cyneuron, and lists
the Keras names the module does have. A name that is not Keras' at all stays a plain AttributeError.

Every public module ends with ``__getattr__ = module_getattr(__name__)``; the package installs
``FINDER`` so that ``import cyneuron.ops`` says the same.
"""

from __future__ import annotations

import dis
import pkgutil
import sys
from collections.abc import Callable

from cyneuron._keras_names import KERAS_NAMES

__all__ = ["NotAvailableError", "NotAvailableAttributeError", "NotAvailableModuleError", "module_getattr", "FINDER"]

_IMPORT_FROM = dis.opmap["IMPORT_FROM"]


class NotAvailableError(ImportError):
    """A Keras name that cyneuron does not provide, met by an import (an ImportError, as a failed import is)."""


class NotAvailableAttributeError(AttributeError):
    """The same, met by attribute access (an AttributeError, so hasattr() and getattr(..., default) work)."""


class NotAvailableModuleError(NotAvailableError, ModuleNotFoundError):
    """The same, met by ``import cyneuron.<keras module>``."""


def _keras_module(module_name: str) -> str:
    """``"cyneuron.layers"`` -> ``"layers"``: the key of the module in ``KERAS_NAMES``."""
    return module_name.partition(".")[2]


def _keras_spelling(module_name: str, name: str) -> str:
    path = _keras_module(module_name)
    return f"keras.{path}.{name}" if path else f"keras.{name}"


def available_names(module_name: str) -> list[str]:
    """The Keras names that the cyneuron module ``module_name`` provides, sorted."""
    module = sys.modules[module_name]
    present = set(vars(module))
    if hasattr(module, "__path__"):  # a package: its submodules count before their first import
        present.update(info.name for info in pkgutil.iter_modules(module.__path__))
    return sorted(name for name in KERAS_NAMES.get(_keras_module(module_name), ()) if name in present)


def _message(module_name: str, name: str) -> str:
    have = ", ".join(available_names(module_name)) or "none"
    return f"{_keras_spelling(module_name, name)} is not available in cyneuron. {module_name} has: {have}"


def _called_by_import() -> bool:
    """Whether the attribute lookup that reached a module's ``__getattr__`` is a ``from module import name``.

    The import statement replaces an AttributeError with its own message ("cannot import name ..."),
    so there the error must be an ImportError that is not an AttributeError to keep ours.
    """
    frame = sys._getframe(1)
    while frame.f_back is not None and (frame.f_code.co_name == "__getattr__" or frame.f_code.co_filename == __file__):
        frame = frame.f_back
    if frame.f_code.co_filename.startswith("<frozen importlib"):
        return True
    code = frame.f_code.co_code
    return 0 <= frame.f_lasti < len(code) and code[frame.f_lasti] == _IMPORT_FROM


def module_getattr(module_name: str) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for ``module_name`` that explains missing Keras names."""
    keras_names = frozenset(KERAS_NAMES.get(_keras_module(module_name), ()))

    def __getattr__(name: str) -> object:  # noqa: N807 (the module protocol's name)
        if name not in keras_names:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        if _called_by_import():
            raise NotAvailableError(_message(module_name, name), name=module_name)
        raise NotAvailableAttributeError(_message(module_name, name), name=name, obj=sys.modules[module_name])

    return __getattr__


class _MissingSubmoduleFinder:
    """The last finder on ``sys.meta_path``: reached only for a ``cyneuron.<name>`` module that does not
    exist; when ``<name>`` is a Keras module (``keras.ops``, ``keras.regularizers`` ...), it says so."""

    @staticmethod
    def find_spec(fullname: str, path=None, target=None):
        package, _, rest = fullname.partition(".")
        if package != "cyneuron" or not rest or "." in rest or rest not in KERAS_NAMES[""]:
            return None
        raise NotAvailableModuleError(_message("cyneuron", rest), name=fullname)


FINDER = _MissingSubmoduleFinder()
