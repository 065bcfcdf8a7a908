# The ldk daemon (lnh-ldkd, `lnharness install ldk`, LNH_LDK or PATH) in bin/, the shared
# libraries it needs in lib/.
ARG BASE
FROM ${BASE}
COPY lib/ /opt/lnharness-libs/
COPY bin/ /usr/local/bin/
ENV LD_LIBRARY_PATH=/opt/lnharness-libs
RUN lnh-ldkd --version
