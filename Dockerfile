# syntax=docker/dockerfile:1
# Build: install exact dependencies from the lockfile (no embedded PostgreSQL needed at run time).
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:24-slim AS runtime
ENV NODE_ENV=production PORT=8080 DATA_DIR=/app/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY standards ./standards
COPY connectors ./connectors
COPY migrations ./migrations
COPY openapi ./openapi
RUN useradd --system --uid 10001 --home /app rostergate && mkdir -p /app/data && chown rostergate /app/data
USER rostergate
EXPOSE 8080
# DATABASE_URL, ADMIN_TOKEN, TOKEN_SIGNING_KEY and SECRETS_KEY are required in this image: it has no embedded database.
CMD ["node", "src/cli/main.ts", "serve"]
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
