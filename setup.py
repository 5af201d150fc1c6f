"""Build hooks only; all metadata lives in setup.cfg.

The one custom step writes the start-up files (``pydebug_hook.pth`` and the PEP 829
``pydebug_hook.start``) at the root of the wheel, i.e. into site-packages.  setuptools
has no declarative way to put a file there, and PEP 660 editable wheels would not carry
it either, so the step knows both cases.  The text of both files comes from
``pydebug_hook/_bootstrap.py``, so the readable source and the installed line agree.
"""

import os
import runpy

from setuptools import Command, setup
from setuptools.command.build import build

_BOOT = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pydebug_hook", "_bootstrap.py"))
STARTUP_FILES = {
    _BOOT["PTH_NAME"]: _BOOT["PTH_LINE"],
    _BOOT["START_NAME"]: _BOOT["START_LINE"],
}


class build_startup_files(Command):
    description = "write pydebug_hook.pth and pydebug_hook.start for site-packages"
    user_options = []  # noqa: RUF012 -- distutils reads this class attribute

    def initialize_options(self):
        self.build_lib = None
        self.editable_mode = False
        self._outputs = []

    def finalize_options(self):
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def run(self):
        if self.editable_mode:
            # For a PEP 660 wheel setuptools points install_lib at the unpacked editable
            # wheel (see editable_wheel._configure_build); what lands there ships in it.
            target = self.get_finalized_command("install").install_lib
        else:
            target = self.build_lib
        os.makedirs(target, exist_ok=True)
        for name, text in STARTUP_FILES.items():
            path = os.path.join(target, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            self._outputs.append(path)

    def get_outputs(self):
        # An editable wheel must not try to link these into the project tree.
        return [] if self.editable_mode else list(self._outputs)


class build_with_startup_files(build):
    sub_commands = build.sub_commands + [("build_startup_files", None)]


setup(cmdclass={"build": build_with_startup_files, "build_startup_files": build_startup_files})
