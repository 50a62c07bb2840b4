"""ModuleMap: where Python would find an imported module, from the linted files' paths alone.

ModuleMap reads no file but asks the file system whether a folder has an ``__init__.py``;
these tests use made-up absolute paths, and ``tmp_path`` where that question matters.
"""

from __future__ import annotations

import libcst as cst
import pytest

from bnlint.modules import ModuleMap, ModuleTarget
from bnlint.semantic import module_name_literal


def _map(*paths: str) -> ModuleMap:
    return ModuleMap(paths)


def test_a_script_imports_its_sibling_module():
    modules = _map("/proj/train.py", "/proj/model.py")
    assert modules.resolve("/proj/train.py", "model") == ModuleTarget("/proj/model.py", False, ())


def test_a_name_imported_from_a_sibling_is_looked_up_inside_it():
    modules = _map("/proj/train.py", "/proj/model.py")
    assert modules.resolve("/proj/train.py", "model.build_net") == ModuleTarget("/proj/model.py", False, ("build_net",))


def test_a_sibling_is_found_although_the_repository_root_has_an_init():
    modules = _map("/repo/__init__.py", "/repo/train.py", "/repo/model.py")
    assert modules.resolve("/repo/train.py", "model.build_net") == ModuleTarget("/repo/model.py", False, ("build_net",))


def test_a_folder_without_init_is_a_namespace_package():
    modules = _map("/proj/run.py", "/proj/netlib/blocks.py", "/proj/netlib/builders.py")
    assert modules.resolve("/proj/run.py", "netlib.builders") == ModuleTarget("/proj/netlib/builders.py", False, ())
    assert modules.resolve("/proj/run.py", "netlib") == ModuleTarget("/proj/netlib", True, ())
    # A module of the namespace package imports its sibling by the absolute name.
    assert modules.resolve("/proj/netlib/builders.py", "netlib.blocks") == \
        ModuleTarget("/proj/netlib/blocks.py", False, ())


def test_a_regular_package_resolves_to_its_init_and_its_modules():
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/model.py")
    assert modules.resolve("/proj/train.py", "pkg") == ModuleTarget("/proj/pkg/__init__.py", False, ())
    assert modules.resolve("/proj/train.py", "pkg.model.net") == ModuleTarget("/proj/pkg/model.py", False, ("net",))


def test_src_and_lib_folders_are_roots():
    modules = _map("/proj/scripts/train_model.py", "/proj/src/visionpkg/__init__.py",
                   "/proj/src/visionpkg/layers.py", "/proj/lib/helpers.py")
    assert modules.resolve("/proj/scripts/train_model.py", "visionpkg.layers.conv_block") == \
        ModuleTarget("/proj/src/visionpkg/layers.py", False, ("conv_block",))
    assert modules.resolve("/proj/scripts/train_model.py", "helpers") == ModuleTarget("/proj/lib/helpers.py", False, ())


def test_relative_import_one_level_up_is_the_importing_package():
    modules = _map("/proj/pkg/__init__.py", "/proj/pkg/train.py", "/proj/pkg/models/__init__.py",
                   "/proj/pkg/models/resnet.py")
    assert modules.resolve("/proj/pkg/train.py", ".models.resnet.resnet") == \
        ModuleTarget("/proj/pkg/models/resnet.py", False, ("resnet",))
    assert modules.resolve("/proj/pkg/train.py", ".") == ModuleTarget("/proj/pkg/__init__.py", False, ())


def test_relative_import_two_levels_up_reaches_the_parent_package():
    modules = _map("/proj/pkg/__init__.py", "/proj/pkg/models/__init__.py", "/proj/pkg/models/resnet.py",
                   "/proj/pkg/ops/__init__.py", "/proj/pkg/ops/norm.py")
    assert modules.resolve("/proj/pkg/models/resnet.py", "..ops.norm.batch_norm_layer") == \
        ModuleTarget("/proj/pkg/ops/norm.py", False, ("batch_norm_layer",))
    assert modules.resolve("/proj/pkg/models/resnet.py", "..") == ModuleTarget("/proj/pkg/__init__.py", False, ())


def test_from_package_import_name_is_a_submodule_when_one_exists():
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/sub.py")
    assert modules.resolve("/proj/train.py", "pkg.sub") == ModuleTarget("/proj/pkg/sub.py", False, ())


def test_from_package_import_name_is_looked_up_in_init_without_a_submodule():
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/other.py")
    assert modules.resolve("/proj/train.py", "pkg.sub") == ModuleTarget("/proj/pkg/__init__.py", False, ("sub",))


def test_the_nearest_root_wins_over_a_farther_one():
    modules = _map("/proj/app/train.py", "/proj/app/model.py", "/proj/model.py", "/proj/tools/export.py")
    assert modules.resolve("/proj/app/train.py", "model") == ModuleTarget("/proj/app/model.py", False, ())
    assert modules.resolve("/proj/tools/export.py", "model") == ModuleTarget("/proj/model.py", False, ())


def test_a_module_file_wins_over_a_namespace_folder_of_the_same_name():
    modules = _map("/proj/train.py", "/proj/model.py", "/proj/model/weights.py")
    assert modules.resolve("/proj/train.py", "model.net") == ModuleTarget("/proj/model.py", False, ("net",))


@pytest.mark.parametrize("library", ["tensorflow", "keras"])
def test_a_namespace_folder_named_like_a_library_never_hides_it(library):
    modules = _map(f"/proj/{library}/train.py", f"/proj/{library}/layers.py", "/proj/run.py")
    assert modules.resolve(f"/proj/{library}/train.py", library) is None
    assert modules.resolve("/proj/run.py", library) is None
    assert modules.resolve("/proj/run.py", f"{library}.layers") is None


def test_a_regular_package_named_keras_is_the_projects():
    modules = _map("/proj/train.py", "/proj/keras/__init__.py", "/proj/keras/blocks.py")
    assert modules.resolve("/proj/train.py", "keras") == ModuleTarget("/proj/keras/__init__.py", False, ())
    assert modules.resolve("/proj/train.py", "keras.blocks") == ModuleTarget("/proj/keras/blocks.py", False, ())


@pytest.mark.parametrize("dotted", ["numpy", "tensorflow.keras.layers", "absl.flags", "model"])
def test_an_import_the_project_does_not_hold_gives_none(dotted):
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/model.py")
    assert modules.resolve("/proj/train.py", dotted) is None


def test_files_reached_by_a_module_include_the_package_inits_on_the_way():
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/models/__init__.py",
                   "/proj/pkg/models/resnet.py", "/proj/pkg/models/vgg.py", "/proj/pkg/ops/norm.py")
    assert modules.files_reached("/proj/train.py", "pkg.models.resnet") == {
        "/proj/pkg/models/resnet.py", "/proj/pkg/models/__init__.py", "/proj/pkg/__init__.py",
    }


def test_files_reached_by_a_package_are_all_files_under_it():
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/models/__init__.py",
                   "/proj/pkg/models/resnet.py", "/proj/pkg/ops/norm.py", "/proj/other/tool.py")
    assert modules.files_reached("/proj/train.py", "pkg") == {
        "/proj/pkg/__init__.py", "/proj/pkg/models/__init__.py", "/proj/pkg/models/resnet.py", "/proj/pkg/ops/norm.py",
    }
    assert modules.files_reached("/proj/train.py", "pkg.models") == {
        "/proj/pkg/models/__init__.py", "/proj/pkg/models/resnet.py", "/proj/pkg/__init__.py",
    }


def test_files_reached_by_a_namespace_package_are_all_files_under_it():
    modules = _map("/proj/run.py", "/proj/netlib/blocks.py", "/proj/netlib/builders.py")
    assert modules.files_reached("/proj/run.py", "netlib") == {"/proj/netlib/blocks.py", "/proj/netlib/builders.py"}
    assert modules.files_reached("/proj/run.py", "netlib.builders") == {"/proj/netlib/builders.py"}


def test_files_reached_without_whole_packages_stop_at_the_package_init():
    modules = _map("/proj/train.py", "/proj/pkg/__init__.py", "/proj/pkg/model.py")
    assert modules.files_reached("/proj/train.py", "pkg", whole_packages=False) == {"/proj/pkg/__init__.py"}


def test_files_reached_by_an_unknown_import_are_none():
    modules = _map("/proj/train.py", "/proj/model.py")
    assert modules.files_reached("/proj/train.py", "numpy") == set()


def test_a_copy_of_the_library_itself_is_imported_as_the_library():
    # The keras repository: its keras/ package holds keras's own layers/, so `from keras import layers`
    # inside it means Keras (whose batch norms the registry knows), not some project module.
    modules = _map("/keras-repo/keras/__init__.py", "/keras-repo/keras/layers/__init__.py",
                   "/keras-repo/keras/applications/resnet_rs.py")
    assert modules.resolve("/keras-repo/keras/applications/resnet_rs.py", "keras.layers") is None
    # Relative imports inside it still reach its files.
    assert modules.resolve("/keras-repo/keras/applications/resnet_rs.py", "..layers") == \
        ModuleTarget("/keras-repo/keras/layers/__init__.py", False, ())


def test_an_init_on_disk_that_is_not_linted_still_makes_a_regular_package(tmp_path):
    # An empty ``keras/__init__.py`` holds no rule token and is never parsed; it still makes the
    # project's ``keras/`` a regular package, which hides the installed library as in Python.
    package = tmp_path / "keras"
    package.mkdir()
    (package / "__init__.py").write_text("")
    trainer, detector = str(package / "trainer.py"), str(package / "detector.py")
    assert _map(trainer, detector).resolve(trainer, "keras.detector") == ModuleTarget(detector, False, ())
    (package / "__init__.py").unlink()
    assert _map(trainer, detector).resolve(trainer, "keras.detector") is None  # a namespace folder: the library


@pytest.mark.parametrize(("source", "expected"), [
    ('"nets.resnet"', ("nets.resnet", True)),
    ('"nets." + name', ("nets.", False)),
    ('f"{__name__}.nets.{name}"', ("pkg.nets.", False)),
    ('".".join((__name__, "nets"))', ("pkg.nets", True)),
    ('".".join([__name__, "nets", name])', ("pkg.nets.", False)),
    ('f"{root}.{name}"', ("pkg.nets.", False)),
    ('f"{unknown}.{name}"', ("", False)),
])
def test_the_literal_start_of_a_computed_module_name(source, expected):
    """``importlib.import_module``'s argument: joins, f-strings and names assigned once are read through."""
    assigned = {"root": cst.parse_expression('".".join((__name__, "nets"))')}
    expr = cst.parse_expression(source)
    assert module_name_literal(expr, "pkg", lambda name: assigned.get(name.value)) == expected
