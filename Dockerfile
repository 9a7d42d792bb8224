FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home casino && mkdir -p /app/var && chown -R casino /app/var
USER casino
EXPOSE 8000
CMD ["gunicorn", "casino_platform.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "4", "--threads", "2", "--keep-alive", "30"]
