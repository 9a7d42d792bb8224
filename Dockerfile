FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The admin's CSS and scripts, collected into var/static, which bin/serve hands to granian
# to serve (DEBUG is off here, so Django serves none). DEBUG=1 only lets settings load
# without a SECRET_KEY at build time; it is not in the image.
RUN DEBUG=1 python manage.py collectstatic --noinput --verbosity 0
RUN useradd --create-home casino && mkdir -p /app/var/beat && chown -R casino /app/var
USER casino
EXPOSE 8000
# granian as measured (bin/serve). PROMETHEUS_MULTIPROC_DIR is not set here: bin/serve sets
# and prepares it for the web server's processes; the other commands (migrate, the Celery
# worker and beat) run as single processes.
CMD ["bin/serve"]
