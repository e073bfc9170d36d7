import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run, so that a red CI can be reproduced and a green
# one means the same thing twice. To look for new counterexamples, run with
# `--hypothesis-profile=explore` (fresh random draws, remembered in .hypothesis/ when one fails) and
# add what it finds to the test as an @example.
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("reproducible")

# The cuda memory figures read CUBLAS_WORKSPACE_CONFIG from the environment, as PyTorch does; the tests'
# expected figures are for PyTorch's default, whatever the shell running them has set.
os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
