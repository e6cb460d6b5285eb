# syntax=docker/dockerfile:1
# The Voltlane edge in a container (see README "Deploying"). Build: docker build -t voltlane .
# First run writes the config and the key into the volume:
#   docker run --rm -v voltlane:/data voltlane init --config /data/connserver.toml
# then: docker run -d --name edge -v voltlane:/data -p 42000:42000 -e VOLTLANE_MASTER_ADDRESS=backend:42001 voltlane
# docker kill -s HUP edge reloads the config; docker stop edge (SIGTERM) drains and saves the sessions.

# Build stage: the devDependencies and the TypeScript build stay here.
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm ci && npm run build && npm prune --omit=dev

# Runtime stage: the slim image of the same Debian release (the addon links against the same libc).
FROM node:24-bookworm-slim
RUN groupadd --system voltlane \
    && useradd --system --gid voltlane --no-create-home --home-dir /data --shell /usr/sbin/nologin voltlane \
    && mkdir -p /data \
    && chown voltlane:voltlane /data \
    && chmod 0700 /data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY connserver.toml ./
ENV NODE_ENV=production \
    VOLTLANE_LISTENER_ADDRESS=0.0.0.0:42000
# /data holds connserver.toml, voltlane.key (0600) and the session state (voltlane.state, voltlane.journal).
VOLUME ["/data"]
WORKDIR /data
USER voltlane
EXPOSE 42000
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--config", "/data/connserver.toml", "--log-format", "json"]
