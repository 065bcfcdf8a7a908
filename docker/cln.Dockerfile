# Core Lightning: lightningd with its subdaemons and plugins (the install tree of this
# machine's lightningd, LNH_LIGHTNINGD or PATH) in cln/, the shared libraries they need in
# lib/; built on the python image for lnharness-bitcoin-cli, the bitcoin-cli lightningd's
# bcli plugin calls.
ARG BASE
FROM ${BASE}
COPY lib/ /opt/lnharness-libs/
COPY cln/ /opt/cln/
RUN printf '#!/bin/sh\nexec python -m lnharness.node_impl.bitcoin.cli_shim "$@"\n' \
      > /usr/local/bin/lnharness-bitcoin-cli \
 && chmod 755 /usr/local/bin/lnharness-bitcoin-cli
ENV PATH=/opt/cln/bin:$PATH LD_LIBRARY_PATH=/opt/lnharness-libs
RUN lightningd --version
