# syntax=docker/dockerfile:1
# Node 26 is the Active LTS line (since October 2026); better-sqlite3 12 supports it (engines: 20.x to 26.x).
# Build: compile TypeScript (the gateway and its token / usage commands) and native modules with the full toolchain.
FROM node:26-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The commands run by `infergate token | usage | keys` (the TOOLS of src/main.ts), compiled with the gateway.
COPY scripts/token.ts scripts/usage-cli.ts scripts/keys-cli.ts ./scripts/
RUN npm run build && npm prune --omit=dev

# Run: production dependencies and compiled JavaScript only, as a non-root user.
FROM node:26-slim
ENV NODE_ENV=production \
    INFERGATE_CONFIG=/etc/infergate/config.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The built-in config is the simulated quick start; mount your own at /etc/infergate/config.yaml.
COPY config/default.yaml /etc/infergate/config.yaml
# Relative paths in the config resolve against /app: ./data holds the usage log (usage.db, with the quota counters
# in it) and the development secret (dev-secret). Mount a volume there to keep them across containers.
RUN mkdir -p /app/data && chown -R node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 8080
# Reads the listen port from the same config as the gateway, so a changed server.listen is followed. The start period
# covers a first start that upgrades a large usage log before serving (~1.5 min per 100M rows); a start that serves
# sooner is healthy at its first check.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5m --retries=3 \
  CMD ["node", "bin/infergate.mjs", "healthcheck"]
STOPSIGNAL SIGTERM
CMD ["node", "bin/infergate.mjs"]
