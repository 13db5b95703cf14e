# The engine's image, and the example worker's (target example-worker). Build: docker build -t pushworker .
# The base defaults to the official Node 20 slim image; any Debian-like image with node and npm will do.
ARG BASE=node:20-slim

# The package as a user gets it: built, packed, and installed with its peers for the engine.
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json README.md LICENSE ./
COPY bin bin
COPY src src
COPY adapters adapters
COPY examples examples
RUN npm run build && npm pack --ignore-scripts --pack-destination /tmp
# The optional peers the engine and the Node worker use, at the versions this repository tests with; worker files
# copied into /app are ES modules.
RUN mkdir /app && cd /app && npm init -y >/dev/null && npm pkg set type=module private=true && \
    peers=$(node -p "const d = require('/src/package.json').devDependencies; \
      ['@electric-sql/pglite', 'pg', '@hono/node-server', 'undici', 'zod'].map((n) => n + '@' + d[n]).join(' ')") && \
    npm install --omit=dev --no-audit --no-fund /tmp/pushworker-*.tgz $peers && \
    npm cache clean --force

FROM ${BASE} AS runtime
# A user without a login or a home of its own; the store is its only writable place.
RUN (getent group pushworker || groupadd --system --gid 10001 pushworker) && \
    (getent passwd pushworker || useradd --system --uid 10001 --gid pushworker --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin pushworker) && \
    mkdir -p /data && chown pushworker:pushworker /data && chmod 0700 /data
COPY --from=build /app /app
ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
USER pushworker
# SIGTERM starts a graceful drain: the engine finishes its pushes in flight, a worker its runs (within its grace).
STOPSIGNAL SIGTERM

FROM runtime AS example-worker
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["pushworker", "worker"]

FROM runtime AS engine
ENV PUSHWORKER_DATA_DIR=/data PORT=7070
VOLUME /data
EXPOSE 7070
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 7070) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["pushworker", "engine", "--host", "0.0.0.0"]
