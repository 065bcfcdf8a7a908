# lnharness's own Python: the embedded chain (regtestd), the built-in node, the fault proxy.
# Build context (made by `lnharness images build`): wheels/ (the dependencies, for the
# base's Python, with requirements.txt) and site/ (lnharness's modules).
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/lnharness \
 && /opt/lnharness/bin/pip install --quiet --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt \
 && rm -rf /tmp/wheels
COPY site/ /opt/lnharness/site/
RUN /opt/lnharness/bin/python -m compileall -q /opt/lnharness/site
ENV PATH=/opt/lnharness/bin:$PATH PYTHONPATH=/opt/lnharness/site PYTHONDONTWRITEBYTECODE=1
RUN python -c "import pbk, coincurve, lnharness.node_impl.builtin.node, lnharness.node_impl.bitcoin.regtestd.node"
