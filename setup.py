# Metadata lives in pyproject.toml; this file keeps `pip install -e .` working with old pips.
from setuptools import setup

setup()
