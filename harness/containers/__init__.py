"""Containers: the Docker engine's HTTP API, lnharness's images, nodes and chains in containers.

No docker SDK: `engine.Engine` speaks the engine's HTTP API (unix socket or tcp, with TLS)
with the standard library. `DOCKER_HOST` names the engine, as for the docker CLI.
"""
