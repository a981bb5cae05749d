"""Stand-in for the get-pip.py script ansible-test downloads to bootstrap pip.

ansible-test fetches get-pip.py from a host that machines with access to PyPI
only cannot reach. This does the same job with what Python ships: ensurepip
installs the bundled pip, which then installs the pip version ansible-test
asks for from the package index. `make sanity` puts it in ansible-test's cache.
"""
import ensurepip
import os
import subprocess
import sys

ENVIRONMENT = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
# ensurepip points PIP_CONFIG_FILE at /dev/null; the site's pip configuration
# (index, certificates) is wanted again for the real install.
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + ARGS, env=ENVIRONMENT))
