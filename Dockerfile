# syntax=docker/dockerfile:1
# Writ's server commands in one image: `writ up` (embedded node, HTTP API, console) and
# `writ node` / `writ authority` / `writ sequencer` (a fleet). docs/install.md#docker
#
#   docker build -t writ .
#   docker run --rm -v writ:/var/lib/writ writ init
#   docker run --init -p 8700:8700 -v writ:/var/lib/writ writ            # writ up on 0.0.0.0:8700
#   docker run --init -p 8700:8700 -v writ:/var/lib/writ writ up --demo --host 0.0.0.0

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# the image's Node is 24 already: the `node` dependency's install script (which fetches a
# Node binary) is skipped with the others; nothing of Writ's needs an install script
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin bin
COPY proto proto
COPY demo demo
COPY src src
# dist: the executor library entry points and the built console (dist/console)
RUN npm run build && npm run build:console \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf src/console/web

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    WRIT_HOME=/var/lib/writ/home
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/bin bin
COPY --from=build /app/proto proto
COPY --from=build /app/demo demo
COPY --from=build /app/src src
COPY --from=build /app/dist dist
# the home (keys, state.db, ledger) is the only thing written: a volume owned by the
# unprivileged `node` user (uid 1000) of the base image; the rest may be mounted read-only
RUN mkdir -p /var/lib/writ && chown node:node /var/lib/writ
USER node
VOLUME /var/lib/writ
EXPOSE 8700
# /app is not under node_modules, so Node 24 strips the CLI's types itself (no launcher needed)
ENTRYPOINT ["node", "/app/src/cli/main.ts"]
CMD ["up", "--host", "0.0.0.0", "--port", "8700"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8700/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
