# dragoman sidecar image: a Debian 12 build stage, then a slim runtime with only runtime libraries.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup scripts/setup
# Build dependencies only: the test peers are not needed to build the image.
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build ccache libboost1.81-dev libboost-json1.81-dev \
      libboost-program-options1.81-dev libboost-test1.81-dev libboost-system1.81-dev libssl-dev \
      libsqlite3-dev liburing-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# io_uring build (ON: the builder's seccomp profile may refuse io_uring where the image's runtime
# allows it) and its epoll twin, which dragoman runs in its place where io_uring is refused
# (Docker's default seccomp profile refuses it: docs/io-backend.md).
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDRAGOMAN_TESTS=OFF \
      -DDRAGOMAN_IO_URING=ON \
    && cmake --build /build --target dragoman dragoman-epoll \
    && strip /build/dragoman /build/dragoman-epoll

FROM debian:12-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libboost-json1.81.0 libboost-program-options1.81.0 libssl3 libsqlite3-0 liburing2 \
      ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin dragoman
COPY --from=build /build/dragoman /build/dragoman-epoll /usr/local/bin/
COPY profiles /etc/dragoman/profiles
USER 10001
EXPOSE 8080 7070 8086
ENTRYPOINT ["dragoman"]
# Admin and metrics stay on loopback unless --admin-token is given; probes go to --health. The
# doors listen on the container's address, reached only through the ports you publish: they start
# without client authentication, said explicitly (give DRAGOMAN_DOOR_TOKENS to require tokens).
CMD ["serve", "--profile", "/etc/dragoman/profiles/acme-core.json", "--http", "0.0.0.0:8080", "--line", "0.0.0.0:7070", "--admin", "127.0.0.1:9901", "--health", "0.0.0.0:8086", "--allow-unauthenticated-door"]
