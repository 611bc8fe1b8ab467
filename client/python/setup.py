"""Builds the strata-client package: the metadata is in pyproject.toml; this
adds the generated stubs to the build.

build_py runs protoc with grpc_python_plugin (both from PATH) on
../../proto/strata/v1/*.proto into the build directory, as the packages
strata and strata.v1 (whose modules import each other as
strata.v1.xxx_pb2), next to strata_client. The .proto files live outside
this directory, so the package builds from the strata source tree only (pip
>= 21.3 builds in place; there is no sdist of it), and not editable (pip
install -e), whose import finder knows the source files alone. CMake
generates the same stubs into <build>/python for the tests (CMakeLists.txt
here).
"""

import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import ExecError, FileError

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))


def _tool(name):
    """The path of `name` on PATH, or ExecError naming its Debian package."""
    path = shutil.which(name)
    if path is None:
        raise ExecError(
            "%s not found on PATH: building strata-client generates its gRPC stubs with protoc "
            "and grpc_python_plugin (Debian: apt-get install protobuf-compiler "
            "protobuf-compiler-grpc)" % name)
    return path


class BuildPyWithStubs(build_py):
    """build_py, then the message and gRPC stubs generated into build_lib."""

    def run(self):
        if getattr(self, "editable_mode", False):
            # The stubs live in the build only: an editable install would
            # import strata_client from here and find no strata.v1. (setuptools
            # 66 only warns of this error, under pip -v; importing
            # strata_client then says what to do.)
            raise ExecError("strata-client cannot be installed editable (pip install -e): its "
                            "stubs are generated at build time; install it (pip install "
                            "./client/python) again after a change, or use the CMake build's "
                            "PYTHONPATH=build/python")
        super().run()
        self._generated = generate_stubs(self.build_lib)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + getattr(self, "_generated", [])


def generate_stubs(out_dir):
    """Runs protoc on proto/strata/v1/*.proto into out_dir (strata/v1/*_pb2.py
    and *_pb2_grpc.py) and writes the packages' __init__.py files; returns
    the files written."""
    protos = sorted(os.path.relpath(p, PROTO_ROOT)
                    for p in glob.glob(os.path.join(PROTO_ROOT, "strata", "v1", "*.proto")))
    if not protos:
        raise FileError(
            "no strata/v1/*.proto under %s: build strata-client from the strata source tree "
            "(pip install ./client/python; pip >= 21.3 builds in place, so the path to proto/ "
            "holds)" % PROTO_ROOT)
    protoc, plugin = _tool("protoc"), _tool("grpc_python_plugin")
    # A stub of a .proto since removed must not linger from an earlier build.
    shutil.rmtree(os.path.join(out_dir, "strata"), ignore_errors=True)
    package_dir = os.path.join(out_dir, "strata", "v1")
    os.makedirs(package_dir)
    command = [protoc, "-I", PROTO_ROOT, "--python_out=" + out_dir,
               "--grpc_python_out=" + out_dir, "--plugin=protoc-gen-grpc_python=" + plugin]
    run = subprocess.run(command + protos, capture_output=True, text=True)
    if run.returncode != 0:
        raise ExecError("%s failed (exit %d): %s" % (" ".join(command + protos), run.returncode,
                                                     run.stderr.strip()))
    written = []
    for package in (os.path.join(out_dir, "strata"), package_dir):
        init = os.path.join(package, "__init__.py")
        with open(init, "w") as f:
            f.write('"""Generated from proto/ by protoc when strata-client was built."""\n')
        written.append(init)
    stubs = sorted(glob.glob(os.path.join(package_dir, "*_pb2*.py")))
    if len(stubs) < 2 * len(protos):
        raise ExecError("protoc wrote %s for %s" % (stubs, protos))
    return written + stubs


setup(cmdclass={"build_py": BuildPyWithStubs})
