"""A missing extra is named with the command that installs it; the table of extras
follows setup.cfg."""

import configparser
import importlib.metadata
import re
import sys

import pytest

from espnet_reuse import extras

from helpers import REPO, commands_needing_extras


def declared_extras():
    """setup.cfg's extras (the test extra aside): extra -> distribution names."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    found = {}
    for extra, text in config["options.extras_require"].items():
        lines = [line.split("#")[0].strip() for line in text.splitlines()]
        requirements = [line for line in lines if line]
        applies = [
            r for r in requirements if "python_version" not in r or sys.version_info >= (3, 11)
        ]
        found[extra] = {re.split(r"[<>=!;\[ ]", r)[0].lower() for r in applies}
    found.pop("test")
    return found


def test_the_table_of_extras_is_setup_cfgs():
    distribution_of = {
        module: {d.lower() for d in dists}
        for module, dists in importlib.metadata.packages_distributions().items()
    }
    declared = declared_extras()
    assert set(extras.EXTRAS) == set(declared)
    for extra, modules in extras.EXTRAS.items():
        tabled = set().union(*(distribution_of[m] for m in modules))
        assert tabled == declared[extra], extra


def test_a_missing_module_names_its_extra_and_the_install_command():
    with pytest.raises(extras.MissingExtra, match=r'no_such_module .*"espnet_reuse\[corpus\]"'):
        extras.require("corpus", "no_such_module")
    extras.require("recipe")  # the test environment has every extra
    with pytest.raises(ValueError, match="no extra 'nothing'"):
        extras.require("nothing")


def test_a_command_without_its_extra_prints_one_line(monkeypatch):
    monkeypatch.setitem(extras.EXTRAS, "recipe", ("matplotlib", "no_such_module"))
    monkeypatch.setattr(sys, "argv", ["/x/analyze_attention.py"])
    with pytest.raises(SystemExit) as stopped:
        extras.command_needs("recipe")
    assert stopped.value.code == (
        "analyze_attention: needs the 'recipe' extra (no_such_module not installed): "
        'pip install "espnet_reuse[recipe]" (make install installs every extra)'
    )


def test_commands_of_the_recipe_and_the_corpus_ask_for_their_extras():
    assert commands_needing_extras() == {
        "analyze_attention": ["recipe"],
        "benchmark": ["recipe"],
        "benchmark_decoding": ["recipe"],
        "benchmark_onnx": ["onnx", "recipe"],
        "compare_experiments": ["recipe"],
        "export_onnx": ["onnx"],
        "layout_study": ["recipe"],
        "make_corpus": ["corpus"],
        "reference_wer": ["reference", "corpus", "recipe"],
    }
