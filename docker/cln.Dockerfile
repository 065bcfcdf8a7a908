# Core Lightning: lightningd with its subdaemons and plugins (this machine's, LNH_LIGHTNINGD
# or PATH; an install tree in cln/bin + cln/libexec, or a build tree in cln/lightningd +
# cln/plugins), the shared libraries they need in
# lib/; built on the python image for lnharness-bitcoin-cli, the bitcoin-cli lightningd's
# bcli plugin calls.
ARG BASE
FROM ${BASE}
COPY lib/ /opt/lnharness-libs/
COPY cln/ /opt/cln/
RUN printf '#!/bin/sh\nexec python -m lnharness.node_impl.bitcoin.cli_shim "$@"\n' \
      > /usr/local/bin/lnharness-bitcoin-cli \
 && chmod 755 /usr/local/bin/lnharness-bitcoin-cli
ENV PATH=/opt/cln/bin:/opt/cln/lightningd:$PATH LD_LIBRARY_PATH=/opt/lnharness-libs
RUN lightningd --version
