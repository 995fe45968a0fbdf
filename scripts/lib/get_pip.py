"""Stands in for pip's get-pip.py when ansible-test bootstraps pip into the empty venv of a sanity test.

ansible-test downloads get-pip.py from ci-files.testing.ansible.com, which this machine cannot reach (only the
Python package index answers), and keeps it in ~/.ansible/test/cache/get_pip_VERSION.py; scripts/setup puts this
file there instead. It ends in the same state: the pip version ansible-test asks for (an argument like pip==24.2),
installed from the package index by the pip wheel that CPython's ensurepip bundles. ansible-test runs it as
__main__ with get-pip.py's arguments: pip install arguments, plus get-pip's own --no-setuptools and --no-wheel
("install only what was named").
"""

import ensurepip
import subprocess
import sys

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")


def main():
    """Installs the bundled pip, then what the arguments name with it."""
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    ensurepip.bootstrap(upgrade=False, default_pip=False)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", *args], check=True)
    # ensurepip also installs setuptools on Python 3.11; get-pip.py --no-setuptools would not have.
    if "--no-setuptools" in sys.argv[1:]:
        subprocess.run([*pip, "uninstall", "-y", "setuptools"], check=True)


if __name__ == "__main__":
    main()
