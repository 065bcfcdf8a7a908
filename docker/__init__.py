"""Dockerfiles of lnharness's images (package data, `lnharness.dockerfiles`); see README.md."""
