# The Gantry orchestrator worker (and the `gantry` CLI: setup-namespace, webhook, deploy…).
# Build: docker build -t gantry .   Run: docker run --env TEMPORAL_ADDRESS=… gantry worker
FROM node:20.20-bookworm-slim

# git: the worker mirrors each environment's canonical remote to verify tags and list changes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/cache/gantry && chown node:node /var/cache/gantry

WORKDIR /opt/gantry
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --chown=node:node . .

USER node
ENV NODE_ENV=production \
    XDG_CACHE_HOME=/var/cache/gantry
ENTRYPOINT ["node", "--import", "tsx", "cli/main.ts"]
CMD ["worker"]
