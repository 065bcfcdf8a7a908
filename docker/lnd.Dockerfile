# LND: the lnd binary of this machine (`lnharness install lnd`, LNH_LND or PATH) in bin/,
# the shared libraries it needs (if any) in lib/.
ARG BASE
FROM ${BASE}
COPY lib/ /opt/lnharness-libs/
COPY bin/ /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/lnharness-libs
RUN lnd --version
