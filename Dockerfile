# syntax=docker/dockerfile:1
# Topicdesk: the portal is built with Node, then served with the API by gunicorn from a slim Python image.
#   docker build -t topicdesk .
#   docker run -p 8080:8080 -e DATABASE_URL=postgresql://... -e SECRET_KEY=... -e OIDC_ISSUER=... topicdesk
#   docker run -e DATABASE_URL=... topicdesk topicdesk reconcile        # the reconciler, same image

FROM node:20-bookworm-slim AS portal
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm test && npm run build

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    TOPICDESK_DATA_DIR=/var/lib/topicdesk
RUN groupadd --system --gid 10001 topicdesk \
 && useradd --system --uid 10001 --gid topicdesk --home-dir /app --shell /usr/sbin/nologin topicdesk \
 && mkdir -p /var/lib/topicdesk && chown topicdesk:topicdesk /var/lib/topicdesk
WORKDIR /app
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md alembic.ini ./
COPY platform/topicdesk/__init__.py platform/topicdesk/__init__.py
RUN pip install . && pip uninstall -y topicdesk
COPY platform/ platform/
COPY schemas/ schemas/
COPY policies/ policies/
COPY --from=portal /src/frontend/dist frontend/dist
# Editable, so that schemas/, policies/ and frontend/dist are found beside the package as in a checkout.
RUN pip install --no-deps -e . && python -c "import topicdesk.app"
USER topicdesk
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"
CMD ["topicdesk", "serve"]
