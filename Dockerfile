FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home casino && mkdir -p /app/var && chown -R casino /app/var
USER casino
EXPOSE 8000
# granian as measured (bin/serve), with a fresh Prometheus multi-process directory (bin/serve says why).
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
CMD ["bin/serve"]
