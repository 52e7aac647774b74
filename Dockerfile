# The exchange, one uvicorn worker per container (run one container per core).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A C compiler: bidding/compiled_predict.py compiles each model's trees when it loads (also
# on a hot reload). Without one the models are scored by XGBoost's own C call: the same
# numbers, several times the CPU per request (docs/decisions.md, "Compiled trees").
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 rtb
WORKDIR /srv/rtb

COPY pyproject.toml README.md ./
# Every package of pyproject.toml's packages.find (tests/test_dockerfile.py checks the list).
COPY agents ./agents
COPY app ./app
COPY openrtb ./openrtb
COPY auction ./auction
COPY bidding ./bidding
COPY budget ./budget
COPY fraud ./fraud
COPY exchange ./exchange
COPY simulation ./simulation
COPY experiments ./experiments
COPY attribution ./attribution
COPY supply ./supply
# The runtime dependencies only (no extras: the dev and bench tools stay out), as `make run`
# installs them; on Linux that is xgboost-cpu, not the CUDA build with its 469 MB
# nvidia-nccl-cu12 (docs/decisions.md, "xgboost-cpu"), and the build fails if either came in.
RUN pip install . \
    && ! pip show --quiet xgboost nvidia-nccl-cu12 2>/dev/null \
    && rm -rf /root/.cache

RUN mkdir -p /var/lib/rtb && chown rtb /var/lib/rtb
USER rtb
# The shipped models compiled now, into this user's cache (/tmp/rtb-compiled-10001): a
# container starts on the compiled path without compiling, and the build fails if it can't.
RUN python -c "from bidding.models import DEFAULT_MODEL_DIR, FALLBACK_RATES, ModelHolder; \
models = ModelHolder(DEFAULT_MODEL_DIR, FALLBACK_RATES); \
assert models.scoring_path == 'compiled', models.current.path_problems"
EXPOSE 8000
# The notice spool and the ledger epoch last used: keep them on a volume across restarts.
VOLUME /var/lib/rtb
ENV RTB_HOST=0.0.0.0 RTB_PORT=8000 RTB_LOG_JSON=true RTB_STATE_DIR=/var/lib/rtb
HEALTHCHECK --interval=10s --timeout=2s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=1)"
CMD ["rtb", "serve"]
