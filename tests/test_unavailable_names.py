"""Keras names cyneuron does not have say so, whichever way a renamed script asks for them."""

from __future__ import annotations

import importlib

import pytest

import cyneuron
from cyneuron._keras_names import KERAS_NAMES
from cyneuron._unavailable import (
    NotAvailableAttributeError,
    NotAvailableError,
    NotAvailableModuleError,
    available_names,
)


def _cyneuron_modules() -> list[str]:
    names = []
    for path in KERAS_NAMES:
        module_name = f"cyneuron.{path}" if path else "cyneuron"
        try:
            importlib.import_module(module_name)
        except ImportError:
            continue
        names.append(module_name)
    return names


MODULES = _cyneuron_modules()


def _missing_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    path = module_name.partition(".")[2]
    missing = []
    for name in KERAS_NAMES[path]:
        try:
            getattr(module, name)
        except AttributeError:
            missing.append(name)
    return missing


def test_the_modules_a_script_imports_most_are_covered():
    for module_name in ("cyneuron", "cyneuron.layers", "cyneuron.optimizers", "cyneuron.losses", "cyneuron.models"):
        assert module_name in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_every_missing_keras_name_says_it_is_not_available(module_name):
    module = importlib.import_module(module_name)
    for name in _missing_names(module_name):
        with pytest.raises(NotAvailableAttributeError, match="is not available in cyneuron") as info:
            getattr(module, name)
        assert name in str(info.value)
        assert not hasattr(module, name)
        assert getattr(module, name, "default") == "default"


@pytest.mark.parametrize("module_name", MODULES)
def test_the_listed_names_exist(module_name):
    module = importlib.import_module(module_name)
    for name in available_names(module_name):
        assert getattr(module, name) is not None


def test_from_import_keeps_the_message():
    with pytest.raises(NotAvailableError, match=r"keras\.layers\.Conv3D is not available in cyneuron.*Dense"):
        from cyneuron.layers import Conv3D  # noqa: F401
    with pytest.raises(NotAvailableError, match=r"keras\.optimizers\.Muon is not available"):
        from cyneuron.optimizers import Muon  # noqa: F401
    with pytest.raises(NotAvailableError, match=r"keras\.ops is not available in cyneuron"):
        from cyneuron import ops  # noqa: F401


def test_a_keras_namespace_cyneuron_lacks():
    with pytest.raises(NotAvailableModuleError, match=r"keras\.constraints is not available in cyneuron.*layers"):
        importlib.import_module("cyneuron.constraints")
    with pytest.raises(ModuleNotFoundError):  # one error type a script may already catch
        importlib.import_module("cyneuron.ops")


def test_names_that_are_not_keras_stay_plain_errors():
    with pytest.raises(AttributeError) as info:
        cyneuron.layers.Denseee  # noqa: B018
    assert not isinstance(info.value, NotAvailableAttributeError)
    with pytest.raises(ModuleNotFoundError) as module_info:
        importlib.import_module("cyneuron.no_such_module")
    assert not isinstance(module_info.value, NotAvailableError)
    with pytest.raises(ImportError) as import_info:
        from cyneuron.layers import Denseee  # noqa: F401
    assert not isinstance(import_info.value, NotAvailableError)
