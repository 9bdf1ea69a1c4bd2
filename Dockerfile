# The Gantry orchestrator worker (and the `gantry` CLI: setup-namespace, webhook, deploy…), from the
# production build: compiled JavaScript and prebuilt workflow bundles; no tsx, no devkit, no tests.
# Build: docker build -t gantry .   Run: docker run --env TEMPORAL_ADDRESS=… gantry worker
FROM node:20.20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20.20-bookworm-slim
# git: the worker mirrors each environment's canonical remote to verify tags and list changes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/cache/gantry && chown node:node /var/cache/gantry
WORKDIR /opt/gantry
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /src/dist ./dist

USER node
ENV NODE_ENV=production \
    XDG_CACHE_HOME=/var/cache/gantry
ENTRYPOINT ["node", "--enable-source-maps", "dist/gantry.mjs"]
CMD ["worker"]
