FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home casino && mkdir -p /app/var && chown -R casino /app/var
USER casino
EXPOSE 8000
# The server and its settings as measured by `make bench` (casino_platform/uwsgi.ini).
CMD ["uwsgi", "--ini", "casino_platform/uwsgi.ini", "--http11-socket", "0.0.0.0:8000", "--processes", "4", "--threads", "2"]
