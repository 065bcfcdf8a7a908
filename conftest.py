"""Configuration for running the project's own tests from the repository.

The lnharness plugin itself is loaded through its `pytest11` entry point (installed by
`pip install -e .`), exactly as in a user's project.
"""
pytest_plugins = ["pytester"]
