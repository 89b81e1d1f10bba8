"""Only here to put the start-up files at the top of the wheel (site-packages root).

setuptools has no declarative way to ship a top-level .pth; like coverage and
pytest-cov, we copy it in during build_py.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

START_FILES = ("sglang_spec_patches.pth", "sglang_spec_patches.start")


class BuildPyWithStartFiles(build_py):
    def run(self):
        super().run()
        for name in START_FILES:
            shutil.copyfile(Path(__file__).parent / name, Path(self.build_lib) / name)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [str(Path(self.build_lib) / n) for n in START_FILES]


setup(cmdclass={"build_py": BuildPyWithStartFiles})
