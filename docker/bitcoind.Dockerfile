# Bitcoin Core: the bitcoind binary of this machine (LNH_BITCOIND or PATH) in bin/, the
# shared libraries it needs (libevent, sqlite, zmq, ...) in lib/.
ARG BASE
FROM ${BASE}
COPY lib/ /opt/lnharness-libs/
COPY bin/ /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/lnharness-libs
RUN bitcoind -version
