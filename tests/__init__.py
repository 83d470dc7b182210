"""The test suite. Imported before any test module or conftest imports zhongtai, so the
environment set here holds for the whole run and for the processes tests start."""

import os

# argon2id at its minimal cost: the suite creates and logs in a few thousand staff
# (see zhongtai.platform.security); tests of hashing itself read the stored hashes.
os.environ.setdefault("ZT_ARGON2_PROFILE", "cheapest")
