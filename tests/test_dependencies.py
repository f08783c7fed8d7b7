"""Import extraction, manifest parsing and the unknown-import rule."""

from __future__ import annotations

import pytest

from bot.core.dependencies import (
    declared_js_deps,
    declared_python_deps,
    js_imports,
    local_python_modules,
    normalise,
    python_imports,
    unknown_imports,
)

# --- python_imports ---------------------------------------------------------------------

def test_python_imports_top_level_names_only() -> None:
    source = "import os.path, yaml as y\nfrom a.b import c\nfrom . import sibling\nfrom ..pkg import x\n"
    assert python_imports(source) == {"os", "yaml", "a"}


def test_python_imports_nested_and_conditional_imports_count() -> None:
    source = "def f():\n    import requests\ntry:\n    import ujson\nexcept ImportError:\n    pass\n"
    assert python_imports(source) == {"requests", "ujson"}


@pytest.mark.parametrize("source", ["def (:\n", "import\n", "\0", ""])
def test_python_imports_tolerates_broken_source(source: str) -> None:
    assert python_imports(source) == set()


# --- js_imports -------------------------------------------------------------------------

def test_js_imports_all_forms() -> None:
    source = """
import leftPad from "left-pad";
import {
  a,
  b,
} from '@scope/pkg/sub/path';
import "side-effect";
import type { T } from "typed-pkg";
export * from "re-exported";
const r = require("cjs-pkg");
const lazy = await import('dynamic-pkg/deep');
"""
    assert js_imports(source) == {
        "left-pad", "@scope/pkg", "side-effect", "typed-pkg", "re-exported", "cjs-pkg", "dynamic-pkg",
    }


def test_js_imports_excludes_relative_builtin_alias_and_urls() -> None:
    source = """
import a from "./local";
import b from "../up";
import fs from "node:fs";
import path from "path";
import c from "~/alias";
import d from "@/components/x";
import e from "#internal";
import f from "https://cdn.example.com/x.js";
import g from "npm:left-pad";
const h = require("/abs/path");
"""
    assert js_imports(source) == set()


def test_js_imports_ignores_comments_and_strings() -> None:
    source = """
// import x from "commented-out";
/* import y from "block-commented"; */
console.log("loaded from 'server'");
"""
    assert js_imports(source) == set()


def test_js_imports_bare_scope_is_not_a_package() -> None:
    assert js_imports('import x from "@scope";') == set()


# --- manifests --------------------------------------------------------------------------

def test_normalise_treats_dash_underscore_dot_alike() -> None:
    assert normalise("Foo.Bar-baz__qux") == "foo_bar_baz_qux"


def test_declared_python_deps_pyproject_all_tables() -> None:
    pyproject = """
[project]
dependencies = ["PyJWT[crypto]>=2.8", "typing_extensions; python_version<'3.12'"]
[project.optional-dependencies]
test = ["pytest>=8"]
[tool.poetry.dependencies]
python = "^3.11"
Django = "^5"
[tool.poetry.group.dev.dependencies]
black = "*"
"""
    declared = declared_python_deps({"pyproject.toml": pyproject})
    assert {"jwt", "pyjwt", "typing_extensions", "pytest", "_pytest", "django", "black"} <= declared
    assert "python" not in declared


def test_declared_python_deps_requirements_setup_cfg_setup_py_pipfile() -> None:
    files = {
        "requirements.txt": "# c\nPyYAML==6.0  # yaml\n-r other.txt\n-e git+https://x/y.git#egg=my_pkg\n",
        "requirements/dev.txt": "beautifulsoup4\n",
        "setup.cfg": "[options]\ninstall_requires =\n    Pillow>=10\n[options.extras_require]\nml = scikit-learn\n",
        "setup.py": "from setuptools import setup\nsetup(install_requires=['python-dateutil'], extras_require={'cv': ['opencv-python']})\n",
        "Pipfile": "[packages]\nattrs = '*'\n[dev-packages]\nfreezegun = '*'\n",
    }
    declared = declared_python_deps(files)
    for name in ("yaml", "my_pkg", "bs4", "pil", "sklearn", "dateutil", "cv2", "attr", "freezegun"):
        assert name in declared, name


def test_declared_python_deps_namespaces_and_python_prefix() -> None:
    declared = declared_python_deps(
        {"requirements.txt": "google-cloud-storage\nzope.interface\npython-foo\n"}
    )
    assert {"google", "zope", "foo"} <= declared


def test_declared_python_deps_pytest_config_implies_pytest() -> None:
    assert "pytest" in declared_python_deps({"pyproject.toml": "[tool.pytest.ini_options]\n"})
    assert "pytest" in declared_python_deps({"setup.cfg": "[tool:pytest]\naddopts = -q\n"})
    assert "pytest" in declared_python_deps({"pytest.ini": "[pytest]\n"})
    assert "pytest" not in declared_python_deps({"pyproject.toml": "[project]\nname='x'\n"})


@pytest.mark.parametrize(
    "files",
    [
        {"pyproject.toml": "this is [not toml"},
        {"setup.cfg": "no section header"},
        {"setup.py": "def (:"},
        {"Pipfile": "[[["},
        {"README.md": "requests"},
        {"notes.txt": "requests"},
    ],
)
def test_declared_python_deps_bad_or_irrelevant_files_give_nothing(files: dict[str, str]) -> None:
    assert declared_python_deps(files) == set()


def test_declared_js_deps_all_tables_and_own_name() -> None:
    text = """{"name": "@me/app", "dependencies": {"react": "^18"},
      "devDependencies": {"@types/node": "*"}, "peerDependencies": {"vue": "3"},
      "optionalDependencies": {"fsevents": "*"}}"""
    assert declared_js_deps(text) == {"@me/app", "react", "@types/node", "vue", "fsevents"}


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", '{"dependencies": ["a"]}', "null"])
def test_declared_js_deps_bad_input_gives_nothing(text: str) -> None:
    assert declared_js_deps(text) == set()


def test_local_python_modules_flat_src_and_nested_layouts() -> None:
    paths = ["app.py", "src/mypkg/__init__.py", "scripts/tools/run.py", "README.md", "my-dir/x.py"]
    local = local_python_modules(paths)
    assert {"app", "src", "mypkg", "__init__", "scripts", "run", "x"} <= local
    assert "tools" not in local  # scripts/tools has no __init__.py: not an importable package
    assert "README" not in local
    assert "my-dir" not in local  # not an identifier, so never importable


# --- unknown_imports --------------------------------------------------------------------

MANIFESTS = {
    "pyproject.toml": '[project]\ndependencies = ["PyYAML"]\n',
    "package.json": '{"dependencies": {"react": "^18", "@scope/pkg": "1"}}',
}


def _unknown(path: str, new: str, old: str | None = None) -> list[str]:
    return unknown_imports(
        path=path, old=old, new=new, repo_paths=["src/mypkg/__init__.py"], manifests=MANIFESTS
    )


def test_unknown_imports_python() -> None:
    new = "import json\nimport yaml\nimport requests\nimport mypkg.sub\nfrom .rel import x\nimport zzz\n"
    assert _unknown("src/mypkg/mod.py", new) == ["requests", "zzz"]


def test_unknown_imports_only_new_ones() -> None:
    old = "import requests\n"
    assert _unknown("a.py", "import requests\nimport numpy\n", old) == ["numpy"]


def test_unknown_imports_js() -> None:
    new = 'import React from "react";\nimport x from "@scope/pkg/sub";\nimport l from "left-pad";\n'
    assert _unknown("web/app.tsx", new) == ["left-pad"]


def test_unknown_imports_other_languages_unchecked() -> None:
    assert _unknown("main.go", 'import "github.com/x/y"\n') == []
    assert _unknown("README.md", "import requests") == []


def test_unknown_imports_js_uses_every_package_json() -> None:
    manifests = {"packages/a/package.json": '{"name": "a", "dependencies": {"lodash": "*"}}'}
    found = unknown_imports(
        path="packages/b/index.js", old=None, new='require("lodash"); require("a"); require("b2")',
        repo_paths=[], manifests=manifests,
    )
    assert found == ["b2"]


def test_pytest_in_a_repository_that_already_has_test_files_is_not_invented():
    from bot.core.dependencies import unknown_imports

    new = "import pytest\n\n\ndef test_x():\n    pass\n"
    with_tests = unknown_imports(path="tests/test_new.py", old=None, new=new,
                                 repo_paths=["pkg/mod.py", "tests/test_mod.py"], manifests={})
    without_tests = unknown_imports(path="tests/test_new.py", old=None, new=new,
                                    repo_paths=["pkg/mod.py"], manifests={})
    assert with_tests == [] and without_tests == ["pytest"]



# --- false positives and negatives found in review -----------------------------------------

@pytest.mark.parametrize("distribution, module", [
    ("djangorestframework", "rest_framework"), ("markdown-it-py", "markdown_it"), ("beautifulsoup4", "bs4"),
    ("Pillow", "PIL"), ("scikit-learn", "sklearn"), ("opencv-python", "cv2"), ("python-dateutil", "dateutil"),
    ("attrs", "attr"), ("PyJWT", "jwt"), ("protobuf", "google"), ("django-cors-headers", "corsheaders"),
    ("llama-cpp-python", "llama_cpp"),
])
def test_import_names_that_differ_from_the_distribution(distribution: str, module: str) -> None:
    manifests = {"requirements.txt": f"{distribution}==1.0\n"}
    assert unknown_imports(path="a.py", old=None, new=f"import {module}\n", repo_paths=[], manifests=manifests) == []


def test_a_url_requirement_declares_its_egg() -> None:
    manifests = {"requirements.txt": "git+https://github.com/acme/foo.git@v1#egg=foo\n"
                                     "-e git+https://github.com/acme/bar.git#egg=bar\nbaz @ https://x.example/baz.whl\n"}
    new = "import foo\nimport bar\nimport baz\nimport git\n"
    assert unknown_imports(path="a.py", old=None, new=new, repo_paths=[], manifests=manifests) == ["git"]


def test_dev_dependencies_of_uv_pdm_hatch_and_dependency_groups_count_as_declared() -> None:
    pyproject = (
        '[project]\nname = "x"\n[dependency-groups]\ndev = ["hypothesis", {include-group = "lint"}]\n'
        '[tool.uv]\ndev-dependencies = ["freezegun>=1"]\n'
        '[tool.pdm.dev-dependencies]\ntest = ["respx"]\n'
        '[tool.hatch.envs.default]\ndependencies = ["coverage[toml]"]\n'
        '[tool.hatch.envs.types]\nextra-dependencies = ["mypy"]\n'
    )
    new = "import hypothesis\nimport freezegun\nimport respx\nimport coverage\nimport mypy\nimport invented\n"
    assert unknown_imports(path="t.py", old=None, new=new, repo_paths=[],
                           manifests={"pyproject.toml": pyproject}) == ["invented"]


def test_a_folder_that_is_not_a_package_does_not_hide_an_invented_module() -> None:
    paths = ["docs/requests/conf.py", "app/__init__.py", "app/http/__init__.py", "src/lib2/a.py"]
    new = "import requests\nimport http_client\nimport lib2\n"
    found = unknown_imports(path="app/x.py", old=None, new=new, repo_paths=paths, manifests={})
    assert found == ["http_client", "requests"]  # lib2 is a src-layout package


TSCONFIG = """{
  // comments and trailing commas, as tsc allows
  "compilerOptions": {
    "baseUrl": "src",
    "paths": {"@app/*": ["src/app/*"], "@shared": ["src/shared/index.ts"],},
  },
}"""


def test_typescript_aliases_and_base_url_imports_are_local() -> None:
    paths = ["src/components/Button.tsx", "src/utils.ts", "src/app/main.ts"]
    manifests = {"tsconfig.json": TSCONFIG, "package.json": '{"dependencies": {"react": "18"}}'}
    new = ("import React from 'react'\nimport { Button } from 'components/Button'\nimport { x } from 'utils'\n"
           "import { main } from '@app/main'\nimport { s } from '@shared'\nimport left from 'left-pad'\n")
    assert unknown_imports(path="src/x.ts", old=None, new=new, repo_paths=paths, manifests=manifests) == ["left-pad"]


def test_a_type_only_import_needs_only_its_types_package() -> None:
    manifests = {"package.json": '{"devDependencies": {"@types/express": "4", "@types/babel__core": "7"}}'}
    typed = "import type { Request } from 'express'\nimport type { PluginObj } from '@babel/core'\n"
    assert unknown_imports(path="a.ts", old=None, new=typed, repo_paths=[], manifests=manifests) == []
    used = "import express from 'express'\n"  # a value import needs the package itself
    assert unknown_imports(path="a.ts", old=None, new=used, repo_paths=[], manifests=manifests) == ["express"]


def test_vue_and_svelte_script_blocks_are_checked() -> None:
    component = "<template><div/></template>\n<script setup lang=\"ts\">\nimport axios from 'axios'\n</script>\n"
    for path in ("App.vue", "App.svelte"):
        assert unknown_imports(path=path, old=None, new=component, repo_paths=[], manifests={}) == ["axios"]
